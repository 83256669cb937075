"""VAE: analytic KL, ELBO estimates, prior samples."""
from __future__ import annotations

import math

import torch
from hydra.utils import instantiate


def test_analytic_kl_matches_monte_carlo(make_cfg):
    from lightning_ae.models.vae import VAE

    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(200000, 2)
    log_q = (-0.5 * ((z - mu) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(1)
    log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
    assert abs(float(VAE.kl(mu, logvar)) - float((log_q - log_p).mean())) < 0.02


def test_loss_is_recon_plus_beta_kl(make_cfg):
    model = instantiate(make_cfg("vae", "digits", ["model.beta=4.0"]).model)
    terms = model.loss((torch.rand(16, 1, 8, 8).round(), None))
    assert torch.allclose(terms["loss"], terms["recon"] + 4.0 * terms["kl"])
    assert torch.allclose(terms["elbo"], -(terms["recon"] + terms["kl"]))


def test_importance_weights_bound(make_cfg):
    torch.manual_seed(0)
    model = instantiate(make_cfg("vae", "digits").model)
    x = torch.rand(32, 1, 8, 8).round()
    w = model.log_weights(x, k=64)
    assert w.shape == (64, 32)
    iwae = torch.logsumexp(w, 0) - math.log(64)
    assert float(iwae.mean()) >= float(w.mean())  # Jensen: the IS bound is tighter than the ELBO


def test_samples_come_from_the_prior(make_cfg):
    model = instantiate(make_cfg("vae", "cifar10").model)
    s = model.sample(5)
    assert s.shape == (5, 3, 32, 32) and model.can_sample
