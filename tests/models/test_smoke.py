"""Every model × datamodule pair runs a fast_dev_run (one train, val and test batch) through the app."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_ae import config_options
from tests.conftest import DATASETS, run_cfg

# Models that cannot train from a bare config (each has its own test file explaining why).
NOT_STANDALONE: set[str] = {"cvae", "vqvae_prior"}  # cvae: errors on unlabelled data; vqvae_prior: needs a VQ-VAE checkpoint
MODELS = [m for m in config_options("model") if m not in NOT_STANDALONE]


@pytest.mark.parametrize("data", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_fast_dev_run(model, data, make_cfg):
    cfg = make_cfg(model, data)
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert "test/loss" in metrics and metrics["test/loss"] == metrics["test/loss"]  # present and not NaN
