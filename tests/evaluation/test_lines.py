"""ACAI's lines metrics (the shared implementation in lightning_ae.metrics.lines) as the suite uses them."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

lines = pytest.importorskip("lightning_ae.metrics.lines")
from datamodules import LinesDataModule, render_lines  # noqa: E402
from lightning_ae.evaluation.suite import evaluate, settings  # noqa: E402

GRID = 2 * math.pi / lines.N_TRUE_LINES  # the angles of the true lines the metric compares with


def true_line_paths(pairs=8, steps=16):
    """Lines rotating at constant speed between two angles of the true-line grid: a perfect interpolation."""
    g = torch.Generator().manual_seed(0)
    start = torch.randint(0, lines.N_TRUE_LINES, (pairs, 1), generator=g)
    step = torch.randint(20, 300, (pairs, 1), generator=g) * torch.where(torch.rand(pairs, 1, generator=g) < 0.5, -1, 1)
    angles = (start + step * torch.arange(steps)) * GRID
    return render_lines(angles.flatten()).view(pairs, steps, 1, 32, 32) * 2 - 1


def test_true_line_interpolation_scores_zero():
    m = lines.lines_metrics(true_line_paths())
    assert m["mean_distance"] == pytest.approx(0.0, abs=1e-9)
    assert m["smoothness"] == pytest.approx(0.0, abs=1e-9)


def test_cross_fade_scores_above_zero():
    ends = true_line_paths(steps=16)[:, [0, -1]]
    t = torch.linspace(0, 1, 16).view(1, 16, 1, 1, 1)
    fade = (1 - t) * ends[:, :1] + t * ends[:, 1:]
    m = lines.lines_metrics(fade)
    assert m["mean_distance"] > 1e-3 and m["smoothness"] > 0.1


class PixelAE(nn.Module):
    """Code = the pixels: reconstruction is perfect and latent interpolation is a cross-fade."""

    shape = (1, 32, 32)

    def encode(self, x):
        return x.flatten(1)

    def decode(self, z):
        return z.view(-1, *self.shape)

    def reconstruct(self, x):
        return x

    def interpolate(self, x1, x2, steps=8):
        t = torch.linspace(0, 1, steps).view(1, steps, 1, 1, 1)
        return (1 - t) * x1.unsqueeze(1) + t * x2.unsqueeze(1)


def test_suite_scores_a_cross_fading_model_on_lines():
    dm = LinesDataModule(train_size=64, test_size=64, channels=1, height=32, width=32, num_classes=16,
                         value_range=(-1.0, 1.0), val_size=16)
    m = evaluate(PixelAE(), dm, settings("fast", {"parts": {"representation": False}}), device="cpu")
    assert math.isinf(m["recon/psnr"])
    starts, ends = lines.interpolation_pairs(dm.tensors("test")[0][:64], 16)  # fast: 64 images, 16 pairs
    t = torch.linspace(0, 1, 16).view(1, 16, 1, 1, 1)
    want = lines.lines_metrics((1 - t) * starts.unsqueeze(1) + t * ends.unsqueeze(1))  # the cross-fades, by hand
    assert m["lines/mean_distance"] == pytest.approx(want["mean_distance"], rel=1e-6)
    assert m["lines/smoothness"] == pytest.approx(want["smoothness"], rel=1e-6)


class TurnedAE(PixelAE):
    """Decodes every image turned by 180° about the centre (16, 16): a line at θ comes back at θ + π."""

    def interpolate(self, x1, x2, steps=8):
        return super().interpolate(x1, x2, steps).flip(-1, -2)


@pytest.mark.parametrize("model, degrees", [(PixelAE(), 0.0), (TurnedAE(), 180.0)])
def test_suite_reports_the_median_end_angle_error(model, degrees):
    dm = LinesDataModule(train_size=64, test_size=64, channels=1, height=32, width=32, num_classes=16,
                         value_range=(-1.0, 1.0), val_size=16)
    m = evaluate(model, dm, settings("fast", {"parts": {"representation": False}}), device="cpu")
    assert m["lines/end_angle_error_deg"] == pytest.approx(degrees, abs=0.05)
