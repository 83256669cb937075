"""ACAI's lines metrics: a perfect interpolation scores 0 on both, a cross-fade does not."""
from __future__ import annotations

import math

import pytest
import torch

from datamodules.lines import render_lines
from lightning_ae.metrics.lines import N_TRUE_LINES, interpolation_paths, lines_metrics

GRID = 2 * math.pi / N_TRUE_LINES  # spacing of the reference lines


def lines(angles: torch.Tensor) -> torch.Tensor:
    return render_lines(angles) * 2 - 1  # [-1, 1], as the data and the metric use


def rotating_path(start: int, stride: int, n: int = 16) -> torch.Tensor:
    """True lines at reference angles start, start+stride, ... (indices on the 10,000-line grid)."""
    return lines((start + stride * torch.arange(n, dtype=torch.float64)) * GRID)


def test_perfect_interpolation_scores_zero():
    paths = torch.stack([rotating_path(100, 50), rotating_path(9000, 120), rotating_path(4000, -30)])
    m = lines_metrics(paths)
    assert m["mean_distance"] == pytest.approx(0.0, abs=1e-6)
    assert m["smoothness"] == pytest.approx(0.0, abs=1e-6)


def test_path_across_zero_angle_is_unwrapped():
    # 9,900 → 10,050 (≡ 50) on the grid crosses 2π: still a perfect rotation
    m = lines_metrics(rotating_path(9900, 10)[None])
    assert m["smoothness"] == pytest.approx(0.0, abs=1e-6)


def test_cross_fade_scores_worse_than_zero():
    a, b = lines(torch.tensor([0.3], dtype=torch.float64)), lines(torch.tensor([2.0], dtype=torch.float64))
    t = torch.linspace(0, 1, 16).view(16, 1, 1, 1)
    fade = (1 - t) * a + t * b
    m = lines_metrics(fade[None])
    assert m["mean_distance"] > 1e-3
    assert m["smoothness"] > 0.5  # the nearest line jumps from one end to the other at once


def test_interpolation_paths_shape_and_ends():
    class Identity(torch.nn.Module):  # "codes" are the images: ends of each path are the inputs
        device = torch.device("cpu")

        def interpolate(self, x1, x2, steps):
            t = torch.linspace(0, 1, steps).view(1, steps, 1, 1, 1)
            return (1 - t) * x1[:, None] + t * x2[:, None]

    x = lines(torch.rand(20, dtype=torch.float64) * 2 * math.pi)
    paths = interpolation_paths(Identity(), x, pairs=8, steps=5)
    assert paths.shape == (8, 5, 1, 32, 32)
    ends = torch.cat([paths[:, 0], paths[:, -1]])
    assert all(any(torch.equal(e, xi) for xi in x) for e in ends)
    with pytest.raises(ValueError):
        interpolation_paths(Identity(), x, pairs=11)
