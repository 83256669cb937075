"""Every model × datamodule pair runs a fast_dev_run (one train, val and test batch) through the app."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_ae import config_options
from lightning_ae.errors import UserError
from tests.conftest import DATASETS, run_cfg

NOT_STANDALONE = {"vqvae_prior"}  # trains on a VQ-VAE checkpoint's codes: tests/models/test_vqvae_prior.py
NEEDS_LABELS = {"cvae"}           # on unlabelled data it must stop with a clear error instead
UNLABELLED = {"celeba"}
GPU_SIZED = {"nvae"}              # the paper's 55M-parameter set-up: on CPU only its smallest pair runs
MODELS = [m for m in config_options("model") if m not in NOT_STANDALONE]


def pairs():
    for model in MODELS:
        for data in DATASETS:
            marks = [pytest.mark.gpu] if model in GPU_SIZED and data != "digits" else []
            yield pytest.param(model, data, marks=marks, id=f"{model}-{data}")


@pytest.mark.parametrize("model,data", pairs())
def test_fast_dev_run(model, data, make_cfg):
    extra = ["trainer=gpu"] if model in GPU_SIZED and data != "digits" else []
    cfg = make_cfg(model, data, extra)
    if model in NEEDS_LABELS and data in UNLABELLED:
        with pytest.raises(UserError, match=f"(?i){model}.*{data}|{data}.*{model}"):
            run_cfg(cfg)
        return
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert "test/loss" in metrics and metrics["test/loss"] == metrics["test/loss"]  # present and not NaN
