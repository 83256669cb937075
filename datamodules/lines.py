"""ACAI's synthetic lines (Berthelot et al., ICLR 2019, §4): 32×32 images of one antialiased line.

Each image is a 2-px-wide line from the centre to radius 15 px at an angle drawn uniformly from
[0, 2π); background −1, line +1. `render_lines` is the one renderer, shared with the lines metrics.

The official pipeline (brain-research/acai, `lib/data.py`, `input_lines`) has no training set: its training
stream is an endless generator drawing a fresh uniform angle for every image, and its test set is the first 5,000
lines of such a stream (`lines32_test`: limit=5000). `fresh: true` does the same for training (every batch is new
lines, drawn from `seed`, the epoch and the batch's index, so a run and its resume see the same lines); the
validation and test lines stay a fixed draw from `seed` so every evaluation scores the same images.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .base import InMemoryDataModule, TensorBatches

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


def angle_labels(angles: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The angle's bin among `num_classes` equal bins over [0, 2π) (the official labels: 10 bins)."""
    k = max(num_classes, 1)
    return (angles / (2 * math.pi) * k).long().clamp(max=k - 1)


class FreshLines(TensorBatches):
    """Training batches of new lines each time (the official endless stream): `len(x)` lines an epoch, each batch's
    angles drawn from (seed, epoch, batch index, DDP rank), so the stream is repeatable and a resume continues it."""

    def __init__(self, size: int, num_classes: int, x, y, batch_size, **kwargs):
        super().__init__(x, y, batch_size, shuffle=True, drop_last=True, **kwargs)
        self.size, self.num_classes = size, num_classes

    def lines(self, epoch: int, batch: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed = np.random.SeedSequence([self.seed, epoch, batch, self.rank]).generate_state(2, np.uint64)[0]
        angles = torch.rand(n, generator=torch.Generator().manual_seed(int(seed) >> 1), dtype=torch.float64)
        angles = angles * 2 * math.pi
        return render_lines(angles, self.size), angle_labels(angles, self.num_classes)

    def __iter__(self):
        skip = 0
        if self.progress is not None:
            self.epoch, skip = self.progress()
        epoch, self.epoch = self.epoch, self.epoch + 1
        for first, end in self._cuts(skip):
            parts = [self.lines(epoch, b, self.batch_size) for b in range(first, end)]
            x, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            yield (x.pin_memory(), y.pin_memory()) if self.pin_memory else (x, y)


class LinesDataModule(InMemoryDataModule):
    """Generated from the seed: `train_size` training lines (val split off them) and `test_size` test lines.

    With `fresh: true` training batches are new lines every time (`FreshLines`; an epoch is still as many lines as
    the training split), as the official pipeline trains. Labels are the angle bin (num_classes bins over [0, 2π)),
    so probes and CVAE can use them.
    """

    name = "lines"

    def __init__(self, train_size: int = 50000, test_size: int = 5000, fresh: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.train_size, self.test_size, self.fresh = train_size, test_size, bool(fresh)

    def load(self):
        g = torch.Generator().manual_seed(self.seed)
        out = {}
        for split, n in (("train", self.train_size), ("test", self.test_size)):
            angles = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
            out[split] = (render_lines(angles, self.height), angle_labels(angles, self.num_classes))
        return out

    def _loader(self, split: str, train: bool) -> TensorBatches:
        loader = super()._loader(split, train)
        if not (train and self.fresh):
            return loader
        fresh = FreshLines(self.height, self.num_classes, loader.x, loader.y, self.batch_size, seed=self.seed,
                           rank=loader.rank, world_size=loader.world_size, progress=loader.progress,
                           pin_memory=loader.pin_memory, group=loader.group)
        fresh.batches = loader.batches
        return fresh
