"""The lines pipeline does what the official one does (brain-research/acai, lib/data.py, `input_lines`): training
draws a new uniform angle for every image (an endless stream, no fixed training set), the test set is 5,000 lines,
and every image is one rendered line; our stream is repeatable from the seed and resumes where it stopped."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from omegaconf import OmegaConf

from datamodules import LinesDataModule, render_lines
from datamodules.lines import FreshLines
from tests.conftest import compose_cfg

REPO = Path(__file__).resolve().parents[2]


def lines(fresh: bool, train_size: int = 640, **kw) -> LinesDataModule:
    dm = LinesDataModule(train_size=train_size, test_size=64, fresh=fresh, channels=1, height=32, width=32,
                         num_classes=10, batch_size=64, val_size=64, seed=7, **kw)
    dm.setup()
    return dm


def angles_of(x: torch.Tensor) -> torch.Tensor:
    """Each image's angle to 0.5° by brute force against rendered lines (images in [0, 1])."""
    grid = torch.arange(720, dtype=torch.float64) * (2 * math.pi / 720)
    d = torch.cdist(x.flatten(1), render_lines(grid).flatten(1))
    assert float(d.min(1).values.max()) < 0.5  # every image is one rendered line (two lines apart: > 3)
    return grid[d.argmin(1)]


def test_fresh_training_batches_are_new_lines_every_epoch():
    dm = lines(fresh=True)
    loader = dm.train_dataloader()
    assert isinstance(loader, FreshLines) and len(loader) == (640 - 64) // 64
    first, second = list(loader), list(loader)  # two epochs
    x1, x2 = torch.cat([b[0] for b in first]), torch.cat([b[0] for b in second])
    fixed = dm.splits["train"][0].flatten(1)
    exact = "donot_use_mm_for_euclid_dist"  # the matmul form rounds near-equal images to 0
    assert torch.cdist(x1.flatten(1), x2.flatten(1), compute_mode=exact).min() > 1e-5  # the next epoch: other lines
    assert torch.cdist(x1.flatten(1), fixed, compute_mode=exact).min() > 1e-5  # and none is from the fixed set
    a1 = angles_of(x1)
    # labels are the angle's bin among num_classes, like the official int(10·angle / 2π) (0.5° grid: edges may differ)
    y1 = torch.cat([b[1] for b in first])
    assert (y1 != (a1 / (2 * math.pi) * 10).long().clamp(max=9)).float().mean() < 0.03
    # uniform over [0, 2π): each quarter holds about a quarter of 576 angles (binomial sd ≈ 10)
    quarters = torch.bincount((a1 / (math.pi / 2)).long().clamp(max=3), minlength=4)
    assert (quarters - len(a1) / 4).abs().max() < 50


def test_fresh_stream_is_repeatable_and_resumes_mid_epoch():
    full = list(lines(fresh=True).train_dataloader())
    again = list(lines(fresh=True).train_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full, again))
    loader = lines(fresh=True).train_dataloader()
    loader.progress = lambda: (0, 3)  # a checkpoint written after 3 batches of epoch 0
    rest = list(loader)
    assert len(rest) == len(full) - 3 and all(torch.equal(a[0], b[0]) for a, b in zip(rest, full[3:]))


def test_fixed_mode_and_evaluation_splits_are_unchanged():
    fixed, fresh = lines(fresh=False), lines(fresh=True)
    assert not isinstance(fixed.train_dataloader(), FreshLines)
    for split in ("val", "test"):  # every evaluation scores the same images, fresh or not
        assert torch.equal(fixed.splits[split][0], fresh.splits[split][0])


def test_the_configs_follow_the_official_pipeline(tmp_path):
    data = OmegaConf.load(REPO / "conf/data/lines.yaml")
    assert data.test_size == 5000 and data.fresh is False  # lib/data.py: lines32_test = input_lines(limit=5000)
    for name in ("ae", "dae", "vae", "vqvae", "acai"):  # the paper's Table 1 recipes train on fresh lines
        cfg = compose_cfg([f"experiment={name}_lines_paper"], tmp_path / name)
        assert cfg.data.fresh is True and cfg.data.test_size == 5000
