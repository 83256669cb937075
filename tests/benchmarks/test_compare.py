"""benchmarks/compare.py: the issue-#12 comparison figures, drawn from checkpoints of tiny models."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from benchmarks import compare
from tests.test_eval import train_checkpoint


def checkpoint(make_cfg, tmp_path, model: str, data: str, extra: list[str] = ()) -> Path:
    """A tiny `model` trained two batches on the generated `data`, in a run directory of its own."""
    return train_checkpoint(make_cfg, model, data, [f"paths.output_dir={tmp_path / model}", "evaluation.enabled=false",
                                                    *extra])


def pixels(inches_wide: float, inches_high: float) -> tuple[int, int]:
    """savefig at 100 dpi: a figure of w × h inches is 100·w × 100·h pixels."""
    return round(100 * inches_wide), round(100 * inches_high)


def test_interpolation_grid_stacks_both_models_paths(make_cfg, tmp_path):
    net = ["model.net.depth=4", "model.net.latent_size=8"]
    a = checkpoint(make_cfg, tmp_path, "acai", "lines", net)
    b = checkpoint(make_cfg, tmp_path, "ae", "lines", ["model/net=acai", *net])
    out = compare.interpolation_grid(a, b, tmp_path / "fig" / "interp.png", pairs=2, steps=4)
    # one cell-high row per (pair, model): 2 pairs x 2 models; 4 cells wide; margins of 1 and 0.5 inch
    assert Image.open(out).size == pixels(4 * compare.INCH + 1, 4 * compare.INCH + 0.5)


def test_sample_grid_puts_each_models_samples_side_by_side(make_cfg, tmp_path):
    ckpts = {"VAE": checkpoint(make_cfg, tmp_path, "vae", "digits"),
             "ALAE": checkpoint(make_cfg, tmp_path, "alae", "digits", ["model.net.hidden=[32]"])}
    out = compare.sample_grid(ckpts, tmp_path / "samples.png", n=16)
    # two 4x4 grids side by side
    assert Image.open(out).size == pixels(2 * 4 * compare.INCH + 1, 4 * compare.INCH + 0.5)


@pytest.mark.parametrize("value_range, expected", [((-1.0, 1.0), [0.0, 0.5, 1.0]), ((0.0, 1.0), [0.0, 0.5, 1.0])])
def test_images_map_from_the_data_range_to_unit(value_range, expected):
    import torch

    lo, hi = value_range
    t = torch.tensor([lo, (lo + hi) / 2, hi])
    assert compare._unit(t, value_range).tolist() == expected
