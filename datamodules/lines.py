"""ACAI's synthetic lines (Berthelot et al., ICLR 2019, §4): 32×32 images of one antialiased line.

Each image is a 2-px-wide line from the centre to radius 15 px at an angle drawn uniformly from
[0, 2π); background −1, line +1. `render_lines` is the one renderer, shared with the lines metrics.
"""
from __future__ import annotations

import math

import torch

from .base import InMemoryDataModule

SIZE, RADIUS, WIDTH = 32, 15.0, 2.0


def render_lines(angles: torch.Tensor, size: int = SIZE, radius: float = RADIUS, width: float = WIDTH) -> torch.Tensor:
    """Images in [0, 1] of shape [N, 1, size, size]: each pixel's coverage by the line at each angle.

    The line is the paper's: a `width`-px-wide rectangle from the centre (size/2, size/2) to `radius` px along
    the angle (x = column, y = row), flat at both ends. A pixel's coverage is approximated separably: a linear
    ramp over one pixel across each side (|distance from the axis| against width/2) times one across each end
    (the position t along the axis against 0 and `radius`). It matches an 8×8-supersampled coverage of that
    rectangle to antialiasing noise (tests/metrics/test_lines.py).
    """
    angles = angles.double().reshape(-1, 1, 1)
    c = size / 2.0
    coords = torch.arange(size, dtype=torch.float64) + 0.5  # pixel centres
    py, px = coords.view(1, -1, 1) - c, coords.view(1, 1, -1) - c
    dx, dy = torch.cos(angles), torch.sin(angles)
    along = px * dx + py * dy
    across = (py * dx - px * dy).abs()
    ramp = lambda v: v.clamp(0.0, 1.0)  # noqa: E731
    coverage = ramp(width / 2 + 0.5 - across) * ramp(along + 0.5) * ramp(radius + 0.5 - along)
    return coverage.float().unsqueeze(1)


class LinesDataModule(InMemoryDataModule):
    """Generated from the seed: `train_size` training lines (val split off them) and `test_size` test lines.

    Labels are the angle bin (num_classes bins over [0, 2π)), so probes and CVAE can use them.
    """

    name = "lines"

    def __init__(self, train_size: int = 50000, test_size: int = 5000, **kwargs):
        super().__init__(**kwargs)
        self.train_size, self.test_size = train_size, test_size

    def load(self):
        g = torch.Generator().manual_seed(self.seed)
        out = {}
        for split, n in (("train", self.train_size), ("test", self.test_size)):
            angles = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
            x = render_lines(angles, self.height)
            y = (angles / (2 * math.pi) * max(self.num_classes, 1)).long().clamp(max=max(self.num_classes, 1) - 1)
            out[split] = (x, y)
        return out
