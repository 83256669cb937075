"""ImageGrids writes one PNG per grid the model offers."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cfg


def test_pngs_for_reconstructions_samples_interpolations(make_cfg):
    cfg = make_cfg("vae", "digits", ["trainer.max_epochs=2", "callbacks.image_grids.every_n_epochs=1"], fast=False)
    run_cfg(cfg)
    names = {p.name for p in (Path(cfg.paths.output_dir) / "images").glob("*.png")}
    for kind in ("reconstructions", "samples", "interpolations"):
        assert {f"{kind}_epoch000.png", f"{kind}_epoch001.png"} <= names


def test_wandb_images_span_the_byte_range_and_differ(make_cfg):
    """W&B receives 0..255 images (not [0, 1] floats stored as bytes 0/1); each grid is its own picture."""
    import numpy as np
    from PIL import Image

    cfg = make_cfg("vae", "digits", ["trainer.max_epochs=1", "callbacks.image_grids.every_n_epochs=1",
                                     "logger=wandb", "evaluation.enabled=false", "test=false"], fast=False)
    run_cfg(cfg)
    media = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*/files/media/images"))
    assert len(media) == 1
    pixels = {kind: np.asarray(Image.open(next(media[0].rglob(f"{kind}_*.png"))))
              for kind in ("reconstructions", "samples", "interpolations")}
    for kind, p in pixels.items():
        assert p.max() == 255, kind  # make_grid's white padding (pad_value=1.0) must arrive as 255
        assert len(np.unique(p)) > 2, kind  # grey levels, not a binary 0/1 picture
    assert pixels["samples"].shape != pixels["interpolations"].shape or \
        not np.array_equal(pixels["samples"], pixels["interpolations"])
