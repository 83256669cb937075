"""ACAI's lines: the renderer draws the paper's line; a perfect interpolation scores 0 on both metrics, a
cross-fade does not; paths without a direction are averaged as the official evaluation does."""
from __future__ import annotations

import math

import pytest
import torch

from datamodules.lines import render_lines
from lightning_ae.metrics.lines import (N_TRUE_LINES, end_angle_errors, interpolation_pairs, interpolation_paths,
                                       lines_metrics)

GRID = 2 * math.pi / N_TRUE_LINES  # spacing of the reference lines


def lines(angles: torch.Tensor) -> torch.Tensor:
    return render_lines(angles) * 2 - 1  # [-1, 1], as the data and the metric use


def rotating_path(start: int, stride: int, n: int = 16) -> torch.Tensor:
    """True lines at reference angles start, start+stride, ... (indices on the 10,000-line grid)."""
    return lines((start + stride * torch.arange(n, dtype=torch.float64)) * GRID)


def supersampled_line(theta: float, sub: int = 8, size: int = 32, radius: float = 15.0, width: float = 2.0):
    """Coverage of each pixel by the rectangle of the given width from the centre (16, 16) to `radius` along
    θ (x = column, y = row), counted on sub × sub points per pixel."""
    points = (torch.arange(size * sub, dtype=torch.float64) + 0.5) / sub - size / 2
    y, x = points.view(-1, 1), points.view(1, -1)
    along = x * math.cos(theta) + y * math.sin(theta)
    across = y * math.cos(theta) - x * math.sin(theta)
    inside = (along >= 0) & (along <= radius) & (across.abs() <= width / 2)
    return inside.double().view(size, sub, size, sub).mean((1, 3))


def test_renderer_matches_a_supersampled_line():
    thetas = torch.arange(48, dtype=torch.float64) * (2 * math.pi / 48) + 0.01
    diff = torch.stack([render_lines(t.view(1))[0, 0].double() - supersampled_line(float(t)) for t in thetas]).abs()
    # antialiasing noise only: 8×8 sampling resolves coverage to 1/64 and the renderer's edge ramps are
    # linear; a round cap or a line off by half a pixel differs by 0.5 or more somewhere
    assert diff.amax() < 0.1 and diff.mean() < 0.002


def test_paths_without_direction_count_as_zero_in_the_mean():
    """lib/eval.py of the official ACAI code: a path whose ends are < 1e-4 rad apart has no score, and the
    mean is the sum of the defined scores over the number of all paths (NaN if none is defined)."""
    a, b = lines(torch.tensor([0.3], dtype=torch.float64)), lines(torch.tensor([2.0], dtype=torch.float64))
    t = torch.linspace(0, 1, 16).view(16, 1, 1, 1)
    fade = (1 - t) * a + t * b
    still = rotating_path(700, 0)  # both ends (all images) are the same true line
    fade_score = lines_metrics(fade[None])["smoothness"]
    mixed = lines_metrics(torch.stack([fade, still, rotating_path(100, 50)]))["smoothness"]
    assert mixed == pytest.approx((fade_score + 0 + 0) / 3)
    assert math.isnan(lines_metrics(still[None])["smoothness"])


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


def test_end_angle_errors_are_the_angles_between_decoded_ends_and_inputs():
    paths = torch.stack([rotating_path(9990, 1), rotating_path(300, 20)])  # ends on the grid: 9990 → 5, 300 → 600
    starts = lines(torch.tensor([20, 310], dtype=torch.float64) * GRID)
    ends = lines(torch.tensor([9995, 650], dtype=torch.float64) * GRID)
    expected = torch.tensor([30, 10, 10, 50], dtype=torch.float64) * GRID  # the short way round the circle
    torch.testing.assert_close(end_angle_errors(paths, starts, ends), expected)


def test_interpolation_paths_shape_and_ends():
    class Identity(torch.nn.Module):  # "codes" are the images: ends of each path are the inputs
        device = torch.device("cpu")

        def interpolate(self, x1, x2, steps):
            t = torch.linspace(0, 1, steps).view(1, steps, 1, 1, 1)
            return (1 - t) * x1[:, None] + t * x2[:, None]

    x = lines(torch.rand(20, dtype=torch.float64) * 2 * math.pi)
    paths = interpolation_paths(Identity(), x, pairs=8, steps=5)
    assert paths.shape == (8, 5, 1, 32, 32)
    a, b = interpolation_pairs(x, pairs=8)
    assert torch.equal(paths[:, 0], a) and torch.equal(paths[:, -1], b)
    assert len(torch.cat([a, b]).unique(dim=0)) == 16  # 16 distinct test images
    with pytest.raises(ValueError):
        interpolation_paths(Identity(), x, pairs=11)


def test_cross_fade_of_two_far_lines_scores_the_closed_form():
    """Lines at 0.3 and 2.0 rad share only the centre pixels: every blend (1 − t)·a + t·b is nearest to a for
    t < ½ and to b for t > ½, so the nearest angle makes one jump of the whole span: smoothness = 1 − 1/15, the
    worst a path that stays between its ends can score; mean distance = mean_t (1 − max(cos(f_t, a), cos(f_t, b)))."""
    ia, ib = 477, 3183  # on the 10,000-line grid: 0.2997 and 2.0000 rad
    a, b = rotating_path(ia, 0, 1)[0], rotating_path(ib, 0, 1)[0]
    t = torch.linspace(0, 1, 16).view(16, 1, 1, 1)
    fade = (1 - t) * a + t * b
    cos = lambda u, v: (u * v).sum((1, 2, 3)) / (u.flatten(1).norm(dim=1) * v.flatten().norm())  # noqa: E731
    distance = (1 - torch.maximum(cos(fade, a), cos(fade, b))).mean()
    m = lines_metrics(fade[None])
    # the jump may land one grid line (2π/10,000) past an end: the centre pixels both lines share tilt the blend
    assert m["smoothness"] == pytest.approx(1 - 1 / 15, abs=2 / (ib - ia))
    assert m["mean_distance"] == pytest.approx(float(distance), rel=1e-3)
    assert m["mean_distance"] > 5e-3  # ~20x ACAI's reported ~0.2×10⁻³: a cross-fade is far from every line


def test_images_like_no_line_make_an_undefined_path():
    """The official closest_line has no 'no match': a blank image (all background) still gets its nearest line,
    the same one for every blank image, so a path of blanks has ends 0 rad apart and no smoothness score
    (lib/eval.py: NaN, then counted as 0 in the mean over all paths). A collapsed model is thus 'smooth';
    its mean distance and the end-angle error say otherwise."""
    blank = -torch.ones(16, 1, 32, 32, dtype=torch.float64)
    alone = lines_metrics(blank[None])
    assert math.isnan(alone["smoothness"]) and alone["mean_distance"] > 0.01
    defined = rotating_path(100, 50)
    with_blank = lines_metrics(torch.stack([defined, blank, defined]))
    assert with_blank["smoothness"] == pytest.approx(0.0, abs=1e-9)  # 0, 0 (undefined), 0 over 3 paths
    fade = lines_metrics(torch.stack([(1 - torch.linspace(0, 1, 16).view(16, 1, 1, 1)) * rotating_path(477, 0, 1)[0]
                                      + torch.linspace(0, 1, 16).view(16, 1, 1, 1) * rotating_path(3183, 0, 1)[0],
                                      blank]))
    assert fade["smoothness"] == pytest.approx((1 - 1 / 15) / 2, abs=1 / 2706)  # the blank path dilutes the mean
