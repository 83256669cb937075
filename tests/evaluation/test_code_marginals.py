"""The vqvae_prior row's baseline: code grids drawn position by position from the training codes' marginals."""
from __future__ import annotations

import pytest
import torch

from lightning_ae.evaluation.parts import marginal_fid
from lightning_ae.evaluation.suite import settings
from lightning_ae.metrics.code_marginals import position_marginals, sample_independent


def test_marginals_are_the_per_position_code_frequencies():
    idx = torch.tensor([[[0, 1]], [[0, 2]], [[1, 2]], [[0, 2]]])  # 4 grids of 1×2, K = 3
    got = position_marginals(idx, 3)
    want = torch.tensor([[[3 / 4, 1 / 4, 0.0], [0.0, 1 / 4, 3 / 4]]], dtype=torch.float64)
    torch.testing.assert_close(got, want)


def test_independent_draws_follow_each_positions_marginal_and_ignore_the_others():
    """Position (0, 0) always 2; position (0, 1) is 0 or 1 at 30/70, whatever (0, 0) drew: the joint frequencies
    are the product of the marginals (within binomial noise of 20,000 draws)."""
    marg = torch.tensor([[[0.0, 0.0, 1.0], [0.3, 0.7, 0.0]]], dtype=torch.float64)
    draws = sample_independent(marg, 20000, torch.Generator().manual_seed(0))
    assert draws.shape == (20000, 1, 2) and (draws[:, 0, 0] == 2).all()
    assert (draws[:, 0, 1] == 1).double().mean().item() == pytest.approx(0.7, abs=0.015)


class GridModel(torch.nn.Module):
    """Codes = the first 4 pixels quantised to 4 levels on a 2×2 grid; decoding paints code/3 into 8×8 quarters."""

    can_sample = True
    num_codes = 4

    def code_indices(self, x):
        return (x.flatten(1)[:, :4] * 3).round().long().view(-1, 2, 2)

    def decode_indices(self, idx):
        return (idx.float() / 3).repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1)

    def sample_indices(self, n):
        return torch.zeros(n, 2, 2, dtype=torch.long)

    def sample(self, n):
        return self.decode_indices(self.sample_indices(n))

    @property
    def device(self):
        return torch.device("cpu")


def test_the_part_scores_marginal_samples_like_fid(digits, fid_cache, monkeypatch):
    """fid_marginal is `fid` of MarginalSampler: the marginals of the training codes, drawn from the evaluation
    seed, decoded and scored by the same FID call."""
    from lightning_ae.evaluation.parts import fid
    from lightning_ae.evaluation.splits import training

    cfg = settings("fast", {"cache_dir": str(fid_cache)})
    seen = {}

    def recording(model, datamodule, c, device):
        seen["images"] = model.sample(5)
        return {"fid/classifier": 1.5, "fid/samples": 5.0}

    monkeypatch.setattr(fid, "compute", recording)
    model = GridModel()
    got = marginal_fid.compute(model, digits, cfg, "cpu")
    assert got == {"fid_marginal/classifier": 1.5, "fid_marginal/samples": 5.0}
    marg = position_marginals(model.code_indices(training(digits)[0]), 4)
    want = model.decode_indices(sample_independent(marg, 5, torch.Generator().manual_seed(int(cfg.seed))))
    torch.testing.assert_close(seen["images"], want)
    assert marginal_fid.applies(model, digits)
