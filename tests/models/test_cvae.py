"""CVAE: bf16, refuses unlabelled data in one line, one sample row per class, conditioning, log-weights.

(The fast_dev_run on every datamodule, and the error on celeba, are in tests/models/test_smoke.py.)
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

from lightning_ae.errors import UserError
from tests.conftest import run_cfg


def test_bf16_fast_dev_run(make_cfg):
    cfg = make_cfg("cvae", "digits", ["trainer.precision=bf16-mixed"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert torch.isfinite(torch.tensor(metrics["test/loss"]))


def test_unlabelled_data_is_a_one_line_error_naming_model_and_data(make_cfg):
    with pytest.raises(UserError) as err:
        run_cfg(make_cfg("cvae", "celeba"))
    msg = str(err.value)
    assert "cvae" in msg and "celeba" in msg and "\n" not in msg


@pytest.fixture
def model(make_cfg):
    torch.manual_seed(0)
    return hydra.utils.instantiate(make_cfg("cvae", "digits").model).eval()


def test_samples_grid_has_one_row_per_class(model, monkeypatch):
    seen = []
    real_sample = model.sample

    def spy(n, y=None):
        seen.append(y.clone())
        return real_sample(n, y)

    monkeypatch.setattr(model, "sample", spy)
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 10
    grids = model.image_grids(x, y)
    assert grids["samples"].shape == (10 * 8, 1, 8, 8)
    rows = seen[0].view(10, 8)  # the ImageGrids callback tiles 8 per row
    assert torch.equal(rows, torch.arange(10).view(10, 1).expand(10, 8))
    assert set(grids) >= {"reconstructions", "samples", "interpolations"}


def test_the_label_changes_the_decoded_image_and_the_posterior(model):
    z = torch.randn(4, model.latent_dim)
    a, b = model.decode(z, torch.full((4,), 1)), model.decode(z, torch.full((4,), 7))
    assert not torch.allclose(a, b)
    x = torch.rand(4, 1, 8, 8)
    assert not torch.allclose(model.encode(x, torch.full((4,), 1)), model.encode(x, torch.full((4,), 7)))
    assert model.sample(5, torch.tensor(3)).shape == (5, 1, 8, 8)


def test_without_labels_the_mean_class_embedding_is_used(model):
    x, z = torch.rand(3, 1, 8, 8), torch.randn(3, model.latent_dim)
    mean_e = model.label_embedding.weight.mean(0, keepdim=True).expand(3, -1)
    mu = model.head(torch.cat([model.encoder(x), mean_e], 1)).chunk(2, 1)[0]
    assert torch.allclose(model.encode(x), mu)
    assert torch.allclose(model.decode(z), model.likelihood.mean(model.decoder(torch.cat([z, mean_e], 1))))
    assert model.reconstruct(x).shape == x.shape


def test_log_weights_follow_the_vae_protocol(model):
    x, y = torch.rand(5, 1, 8, 8), torch.arange(5)
    lw = model.log_weights(x, 7, y)
    assert lw.shape == (7, 5) and torch.isfinite(lw).all()
    # the ELBO estimate from log-weights matches the loss's ELBO on average (same estimator, many draws)
    torch.manual_seed(1)
    neg_elbo = -model.log_weights(x, 400, y).mean()
    terms = [model.loss((x, y)) for _ in range(50)]
    loss = torch.stack([t["recon"] + t["kl"] for t in terms]).mean()
    assert neg_elbo.item() == pytest.approx(loss.item(), rel=0.03)
    with pytest.raises(UserError):
        model.log_weights(x, 2)


def test_unlabelled_batches_are_refused(model):
    with pytest.raises(UserError, match="labels"):
        model.loss((torch.rand(2, 1, 8, 8), torch.tensor([-1, -1])))
