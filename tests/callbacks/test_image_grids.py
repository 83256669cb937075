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
