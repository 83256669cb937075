"""Codebook perplexity exp(H) and dead-code share from code indices."""
import math

import pytest
import torch

from lightning_ae.metrics.codebook import codebook_usage, usage_from_counts


def test_uniform_use_of_all_codes_has_perplexity_k_and_no_dead_codes():
    idx = torch.arange(16).repeat(5).view(4, 4, 5)
    out = codebook_usage(idx, 16)
    assert out["perplexity"] == pytest.approx(16.0)
    assert out["dead_share"] == 0.0


def test_one_code_has_perplexity_one_and_the_rest_dead():
    out = codebook_usage(torch.full((3, 7, 7), 5), 8)
    assert out["perplexity"] == pytest.approx(1.0)
    assert out["dead_share"] == pytest.approx(7 / 8)


def test_perplexity_is_exp_entropy_of_the_empirical_distribution():
    idx = torch.tensor([0, 0, 0, 1])  # p = (3/4, 1/4, 0, 0)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    out = codebook_usage(idx, 4)
    assert out["perplexity"] == pytest.approx(math.exp(h))
    assert out["dead_share"] == pytest.approx(0.5)
    assert usage_from_counts(torch.tensor([3.0, 1.0, 0.0, 0.0]))["perplexity"].item() == pytest.approx(math.exp(h))


def test_out_of_range_indices_are_refused():
    with pytest.raises(ValueError):
        codebook_usage(torch.tensor([0, 4]), 4)
