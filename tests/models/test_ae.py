"""AE: learns on digits through the app, beats PCA on a nonlinear manifold, interface round-trips shapes."""
from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

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
    cfg = make_cfg("ae", "digits", ["trainer.max_epochs=3", "callbacks=none", "logger=none"], fast=False,
                   run_dir="trained")
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


def _curved_sheet(n: int, generator: torch.Generator, mix: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """n points of a 2-d nonlinear manifold in [0, 1]^20: x = sigmoid(3·U·tanh(V·z)), z ~ U[−1, 1]², as 4×5 images."""
    z = torch.rand(n, 2, generator=generator) * 2 - 1
    V, U = mix
    return torch.sigmoid(3 * torch.tanh(z @ V.T) @ U.T).view(n, 1, 4, 5)


def test_recipe_reconstructs_a_curved_manifold_better_than_pca_with_the_same_code_size(make_cfg):
    """The AE recipe (MLP net, the configured Adam, squared error) with a 2-d code against PCA with 2 components:
    test squared error per item, summed over the 20 values."""
    g = torch.Generator().manual_seed(0)
    mix = (1.5 * torch.randn(8, 2, generator=g), torch.randn(20, 8, generator=g))
    train, test = _curved_sheet(2000, g, mix), _curved_sheet(500, g, mix)
    mean = train.flatten(1).mean(0)
    basis = torch.linalg.svd(train.flatten(1) - mean, full_matrices=False).Vh[:2]
    centred = test.flatten(1) - mean
    pca_error = (centred - centred @ basis.T @ basis).pow(2).sum(1).mean()

    cfg = make_cfg("ae", "digits", ["model.shape=[1,4,5]", "model.latent_dim=2", "model.net.hidden=[64,64]",
                                    "model.likelihood=gaussian", "model.likelihood_std=1.0"])
    pl.seed_everything(0, verbose=False)
    model = instantiate(cfg.model)
    trainer = pl.Trainer(max_epochs=15, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(model, DataLoader(TensorDataset(train, train), batch_size=64, shuffle=True))
    with torch.no_grad():
        ae_error = (model.reconstruct(test) - test).pow(2).sum((1, 2, 3)).mean()
    assert ae_error < 0.5 * pca_error, (ae_error.item(), pca_error.item())
