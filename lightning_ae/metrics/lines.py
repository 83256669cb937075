"""ACAI's interpolation metrics on the synthetic lines (Berthelot et al., ICLR 2019, §4.1).

A perfect interpolation between two lines is a line rotating at constant speed from one angle to the other.
For every decoded image we find the nearest of 10,000 true lines (evenly spaced angles over [0, 2π),
rendered by `datamodules.lines.render_lines`, mapped to [-1, 1]) by cosine similarity:

- mean_distance: the cosine distance (1 − cos) to that nearest line, averaged over every image of every
  path (the paper prints it ×10⁻³).
- smoothness: per path, the nearest lines' angles unwrapped along the path (steps of at most π), then
  max_n |Δθ_n| / |θ_last − θ_first| − 1/(N − 1). A path whose ends are less than 1e-4 rad apart (on the
  10,000-line grid: both ends map to the same true line) has no score. Averaged as the official evaluation
  does (brain-research/acai, lib/eval.py, `line_eval`): the sum of the defined scores divided by the number
  of *all* paths, so an undefined path counts as 0; NaN only when no path has a score.

Both are 0 for a perfect interpolation; a cross-fade scores > 0 on both (its images are no lines, and its
nearest line jumps from one end's angle to the other's half-way). Both presume the model reconstructs lines:
`end_angle_errors` says whether it does (the angle between each decoded path end and its input).

Checked against the official `lib/eval.py` (`closest_line`, `smoothness_score`, `line_eval`): same 10,000 angles
k·2π/10,000, plain cosine distance on the [-1, 1] images (scipy's 'cosine', no centring), `np.unwrap` along the
path, the 1e-4 rad threshold, NaN paths summed as 0 over all paths. The official closest_line has no "no match":
an image like no line (a blank) still gets a nearest line, the same for every blank, so a path of blanks has no
score and counts as 0 — a collapsed model looks smooth; read mean distance and the end-angle error beside it.

What the smoothness numbers mean (issue 22: an MLP AE scored 0.71 after one epoch, 0.86 after twenty, "worse as
it sharpens"). A path that jumps once from one end's angle to the other's scores 1 − 1/(N − 1) = 0.933, the
worst for a path that stays between its ends (more is possible: a path that wanders past an end). A pixel
cross-fade does that for lines far apart and moves gradually only where the two lines overlap, so over random pairs
it scores ≈ 0.86 (mean distance ≈ 6.7×10⁻³; 64 pairs), and blurring it (Gaussian σ up to 3 px) lowers that only to
0.83. Measured on `experiment=ae_lines` (`benchmarks/smoothness.py`, 256 validation pairs, 2026-12-07): after one
epoch the model's own paths score 0.708 (22 % of paths below 0.5, 29 % at the jump) against 0.866 for a cross-fade between the same decoded ends
(88 % at the jump); after four epochs 0.769 (13 % below 0.5, 42 % at the jump) against 0.872. So early in training
the AE's latent paths really are more gradual than a cross-fade, and as it trains they become one (20 epochs: 0.835,
mean distance 6.3×10⁻³, both near the cross-fade's values; the README's unverified paper AE figure: 6.9×10⁻³). The
metric is not at fault and follows the official definition; a rising smoothness means the decoder has learnt to
superimpose the two lines rather than rotate one.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from datamodules.lines import render_lines

N_TRUE_LINES = 10_000
UNDEFINED_SPAN = 1e-4  # rad: a path whose ends are closer has no smoothness score (the official threshold)


@lru_cache(maxsize=2)
def true_lines(size: int, n: int = N_TRUE_LINES) -> tuple[torch.Tensor, torch.Tensor]:
    """(angles [n], unit-norm flattened images [n, size²] in [-1, 1] before normalising)."""
    angles = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    images = render_lines(angles, size).double().flatten(1) * 2 - 1  # float64: neighbours differ by ~1e-6
    return angles, torch.nn.functional.normalize(images, dim=1)


def nearest_lines(images: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For images [M, 1, H, W] in [-1, 1]: (cosine distance to the nearest true line [M], its angle [M])."""
    h, w = images.shape[-2:]
    if h != w:
        raise ValueError(f"lines images are square, got {h}x{w}")
    angles, bank = true_lines(h)
    flat = torch.nn.functional.normalize(images.detach().cpu().double().flatten(1), dim=1)
    dist, angle = [], []
    for part in flat.split(chunk):
        sim, idx = (part @ bank.T).max(1)
        dist.append((1 - sim).clamp(min=0))
        angle.append(angles[idx])
    return torch.cat(dist), torch.cat(angle)


def lines_metrics(paths: torch.Tensor) -> dict[str, float]:
    """paths [P, N, 1, H, W] in [-1, 1] (N images per interpolation, ends included) → both metrics."""
    if paths.dim() != 5 or paths.shape[1] < 3:
        raise ValueError(f"expected paths [P, N >= 3, 1, H, W], got {tuple(paths.shape)}")
    p, n = paths.shape[:2]
    dist, angle = nearest_lines(paths.flatten(0, 1))
    theta = np.unwrap(angle.view(p, n).numpy(), axis=1)
    span = np.abs(theta[:, -1] - theta[:, 0])
    moved = span >= UNDEFINED_SPAN
    steps = np.abs(np.diff(theta, axis=1)).max(1)
    smooth = steps[moved] / span[moved] - 1.0 / (n - 1)
    return {"mean_distance": float(dist.mean()), "smoothness": float(smooth.sum() / p) if moved.any() else math.nan}


def interpolation_pairs(x_test: torch.Tensor, pairs: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs `interpolation_paths` interpolates: two disjoint halves of a permutation drawn from `seed`."""
    if len(x_test) < 2 * pairs:
        raise ValueError(f"need {2 * pairs} test images for {pairs} pairs, got {len(x_test)}")
    order = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(seed))
    return x_test[order[:pairs]], x_test[order[pairs : 2 * pairs]]


def end_angle_errors(paths: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Whether a model reconstructs lines at all: for each path end (the decoded α = 0 and 1 images), the angle
    in radians between its nearest true line and the nearest true line of the input it encodes: [2P]."""
    decoded = nearest_lines(torch.cat([paths[:, 0], paths[:, -1]]))[1]
    given = nearest_lines(torch.cat([starts, ends]))[1]
    diff = (decoded - given).abs() % (2 * math.pi)
    return torch.minimum(diff, 2 * math.pi - diff)


@torch.no_grad()
def interpolation_paths(model, x_test: torch.Tensor, pairs: int = 256, steps: int = 16, seed: int = 0,
                        batch: int = 64) -> torch.Tensor:
    """Interpolate the `interpolation_pairs` with `model.interpolate`: [pairs, steps, C, H, W] on the CPU.

    Ends are included (the model's `interpolate` decodes the codes at α = 0 and 1).
    """
    a, b = interpolation_pairs(x_test, pairs, seed)
    was_training = model.training
    model.eval()
    device = getattr(model, "device", torch.device("cpu"))
    out = [model.interpolate(a[i : i + batch].to(device), b[i : i + batch].to(device), steps=steps).float().cpu()
           for i in range(0, pairs, batch)]
    model.train(was_training)
    return torch.cat(out)
