"""CVAE: bf16, refuses unlabelled data in one line, one sample row per class, conditioning, log-weights.

(The fast_dev_run on every datamodule, and the error on celeba, are in tests/models/test_smoke.py.)
"""
from __future__ import annotations

import json
import math
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


def _log_normal(v, mean, std):
    return (-0.5 * ((v - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(1)


def test_loss_and_log_weights_equal_an_independent_computation(model):
    """For one draw ε: z = μ + σε from the head on [F(x), W·onehot(y)], recon = Bernoulli NLL of the decoder on
    [z, e], KL = Σ(−log σ + (σ² + μ²)/2 − ½), and the log-weight log p(x|z,y) + log N(z; 0, I) − log N(z; μ, σ²)."""
    x, y = torch.rand(5, 1, 8, 8).bernoulli(), torch.tensor([0, 3, 3, 9, 5])
    with torch.no_grad():
        torch.manual_seed(1)
        terms = model.loss((x, y))
        torch.manual_seed(1)
        lw = model.log_weights(x, 1, y)[0]
        e = torch.nn.functional.one_hot(y, 10).float() @ model.label_embedding.weight
        mu, logvar = model.head(torch.cat([model.encoder(x), e], 1)).chunk(2, 1)
        torch.manual_seed(1)
        z = mu + logvar.mul(0.5).exp() * torch.randn(mu.shape)
        p = torch.sigmoid(model.decoder(torch.cat([z, e], 1))).double()
    x, z, mu, sigma = x.double(), z.double(), mu.double(), logvar.double().mul(0.5).exp()
    log_lik = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    kl = (-sigma.log() + (sigma**2 + mu**2) / 2 - 0.5).sum(1)
    assert terms["recon"].item() == pytest.approx(-log_lik.mean().item(), rel=1e-5)
    assert terms["kl"].item() == pytest.approx(kl.mean().item(), rel=1e-5)
    assert terms["elbo"].item() == pytest.approx((log_lik - kl).mean().item(), rel=1e-5)
    want = log_lik + _log_normal(z, torch.zeros_like(z), torch.ones_like(z)) - _log_normal(z, mu, sigma)
    assert torch.allclose(lw.double(), want, rtol=1e-5)


def test_log_weights_need_the_labels(model):
    with pytest.raises(UserError):
        model.log_weights(torch.rand(2, 1, 8, 8), 2)


def test_unlabelled_batches_are_refused(model):
    with pytest.raises(UserError, match="labels"):
        model.loss((torch.rand(2, 1, 8, 8), torch.tensor([-1, -1])))
