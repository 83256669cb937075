"""seed + trainer.deterministic=true: two CPU runs give identical metrics."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_ae import config_options
from tests.conftest import run_cfg

ADVERSARIAL = [m for m in ("acai",) if m in config_options("model")]


@pytest.mark.parametrize("model", ["ae", "vae", *ADVERSARIAL])
def test_two_runs_agree_exactly(model, make_cfg, tmp_path):
    results = []
    for k in range(2):
        cfg = make_cfg(model, "digits", ["seed=7", "trainer.deterministic=true", "trainer.max_epochs=2",
                                         "callbacks=none", "logger=none", f"paths.output_dir={tmp_path / str(k)}",
                                         "evaluation.enabled=false"], fast=False)
        run_cfg(cfg)
        results.append(json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text()))
    assert results[0] == results[1]
    assert results[0]["test/loss"] > 0
