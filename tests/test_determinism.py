"""seed + trainer.deterministic=true: two CPU runs give identical metrics, and another seed does not."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_ae import config_options
from tests.conftest import run_cfg

ADVERSARIAL = [m for m in ("acai",) if m in config_options("model")]


@pytest.mark.parametrize("model", ["ae", "vae", *ADVERSARIAL])
def test_two_runs_agree_exactly(model, make_cfg, tmp_path):
    def metrics(seed: int, name: str) -> dict:
        cfg = make_cfg(model, "digits", [f"seed={seed}", "trainer.deterministic=true", "trainer.max_epochs=2",
                                         "callbacks=none", "logger=none", f"paths.output_dir={tmp_path / name}",
                                         "evaluation.enabled=false"], fast=False)
        run_cfg(cfg)
        return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())

    first, second = metrics(7, "a"), metrics(7, "b")
    assert first == second and "test/loss" in first
    # the seed matters: the agreement above is not two runs that ignore it
    assert metrics(8, "c")["test/loss"] != first["test/loss"]
