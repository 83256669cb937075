"""Retrieval metrics with labels as relevance, and the baselines."""
import numpy as np
import pytest
import torch

from lightning_ae.hashing import lsh_codes, pca_sign_codes
from lightning_ae.metrics.retrieval import retrieval_metrics


def test_codes_that_encode_the_label_retrieve_perfectly():
    labels = np.repeat(np.arange(4), 25)
    class_codes = np.array([[0] * 8, [1] * 8, [1, 0] * 4, [0, 1] * 4], bool)  # pairwise distance ≥ 4
    m = retrieval_metrics(class_codes[labels[:8]], labels[:8], class_codes[labels], labels, radius=2, k=10)
    assert m["precision_radius"] == 1.0 and m["hit_rate"] == 1.0
    assert m["precision_at_k"] == 1.0 and m["map"] == pytest.approx(1.0) and m["map_at_k"] == pytest.approx(1.0)


def test_precision_within_radius_and_map_on_a_hand_worked_case():
    db = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 1, 1]], bool)
    db_y = np.array([0, 1, 0, 0])
    q, q_y = np.array([[0, 0, 0, 0], [1, 1, 1, 1]], bool), np.array([0, 1])
    timings = {}
    m = retrieval_metrics(q, q_y, db, db_y, radius=2, k=2, timings=timings)
    # query 0: items 0 (d0, rel), 1 (d1, not), 3 (d2, rel) within radius → 2/3; query 1: item 2 (d0), 3 (d2)
    # → 0/2 relevant. Mean 1/3.
    assert m["precision_radius"] == pytest.approx(1 / 3)
    # ranking q0: 0(rel) 1 3(rel) 2(rel) → AP = (1 + 2/3 + 3/4)/3; q1 (label 1): 2 3 1(rel) 0 → AP = 1/3
    assert m["map"] == pytest.approx(((1 + 2 / 3 + 3 / 4) / 3 + 1 / 3) / 2)
    assert m["precision_at_k"] == pytest.approx((1 / 2 + 0) / 2)
    assert set(timings) == {"index_build_s", "radius_queries_per_s", "ranking_queries_per_s"}


def test_random_codes_score_near_chance():
    rng = np.random.default_rng(0)
    db_y, q_y = rng.integers(0, 10, 4000), rng.integers(0, 10, 200)
    m = retrieval_metrics(rng.random((200, 16)) < 0.5, q_y, rng.random((4000, 16)) < 0.5, db_y, k=100)
    assert abs(m["precision_at_k"] - 0.1) < 0.03 and abs(m["map"] - 0.1) < 0.03


def test_pca_sign_codes_are_signs_of_the_top_principal_directions():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([8.0, 6.0, 4.0] + [0.1] * 17)  # three dominant axes, in order
    x = torch.randn(500, 20, generator=g) * scale
    codes = pca_sign_codes(x, x, 3)
    assert codes.shape == (500, 3) and codes.dtype == torch.bool
    centred_signs = (x[:, :3] - x[:, :3].mean(0)) > 0
    for j in range(3):  # bit j is the sign of axis j, up to a global flip
        agree = (codes[:, j] == centred_signs[:, j]).float().mean().item()
        assert agree > 0.97 or agree < 0.03
    assert torch.equal(pca_sign_codes(x, x[:10], 3), codes[:10])  # one projection for queries and database


def test_baselines_retrieve_clusters_above_chance():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 50, generator=g) * 5
    y = torch.arange(400) % 4
    x = centres[y] + torch.randn(400, 50, generator=g)
    for fn in (pca_sign_codes, lsh_codes):
        codes = fn(x, x, 16)
        assert codes.shape == (400, 16) and codes.dtype == torch.bool
        assert retrieval_metrics(codes, y, codes, y, k=50)["precision_at_k"] > 0.5  # chance is 0.25


@pytest.mark.parametrize("n,d", [(500, 40), (30, 400)])  # covariance path and Gram-matrix path
def test_pca_directions_match_the_covariance_eigenvectors(n, d):
    from lightning_ae.hashing.baselines import pca_directions

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g) * torch.linspace(5, 0.1, d)
    xc = (x - x.mean(0)).double()
    want = torch.linalg.eigh(xc.T @ xc)[1][:, -6:].flip(1)
    got = pca_directions(x, 6).double()
    assert torch.allclose((got.T @ want).abs().diagonal(), torch.ones(6, dtype=torch.float64), atol=1e-3)
