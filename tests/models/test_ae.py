"""AE: learns on digits through the app, and its interface round-trips shapes."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from hydra.utils import instantiate

from tests.conftest import run_cfg


def test_interface_shapes(make_cfg):
    model = instantiate(make_cfg("ae", "digits").model)
    x = torch.rand(4, 1, 8, 8)
    z = model.encode(x)
    assert z.shape == (4, model.latent_dim)
    r = model.reconstruct(x)
    assert r.shape == x.shape and 0 <= float(r.min()) and float(r.max()) <= 1  # bernoulli means
    assert model.interpolate(x[:2], x[2:], steps=5).shape == (2, 5, 1, 8, 8)


def test_training_lowers_the_test_loss(make_cfg):
    untrained = make_cfg("ae", "digits", ["train=false"], fast=False)
    run_cfg(untrained)
    before = json.loads((Path(untrained.paths.output_dir) / "metrics.json").read_text())["test/loss"]
    cfg = make_cfg("ae", "digits", ["trainer.max_epochs=3", "callbacks=none", "logger=none"], fast=False)
    run_cfg(cfg)
    after = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["test/loss"]
    assert after < 0.8 * before


def test_gaussian_likelihood_is_scaled_squared_error(make_cfg):
    model = instantiate(make_cfg("ae", "lines").model)
    assert model.likelihood.kind == "gaussian"
    x = torch.zeros(1, 1, 32, 32)
    out = torch.ones(1, 1, 32, 32)
    nll0 = model.likelihood.nll(x, x)
    nll1 = model.likelihood.nll(out, x)
    assert torch.allclose(nll1 - nll0, torch.tensor(0.5 * 1024 / model.likelihood.std**2))
