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


def _linear_gaussian_vae(sigma: float = 0.3):
    """z ~ N(0, I₂), x | z ~ N(Wz + b, σ²I₂) as a VAE with one linear layer each way (weights set by hand), so
    x ~ N(b, WWᵀ + σ²I). W = R·diag(2, 0.5) has orthogonal columns, so the exact posterior is diagonal:
    Σ = (I + WᵀW/σ²)⁻¹, μ = ΣWᵀ(x − b)/σ²; the encoder emits it exactly. Returns (model, W, b)."""
    from lightning_ae.models.vae import VAE
    from lightning_ae.nets.mlp import MLP

    model = VAE(MLP(hidden=[]), shape=[1, 1, 2], latent_dim=2, likelihood="gaussian", likelihood_std=sigma)
    c, s = math.cos(0.6), math.sin(0.6)
    W = torch.tensor([[c, -s], [s, c]]) @ torch.diag(torch.tensor([2.0, 0.5]))
    b = torch.tensor([0.3, -0.7])
    post_var = torch.linalg.inv(torch.eye(2) + W.T @ W / sigma**2)
    A = post_var @ W.T / sigma**2
    enc, dec = model.encoder[-1], model.decoder[0]
    with torch.no_grad():
        dec.weight.copy_(W), dec.bias.copy_(b)
        enc.weight.copy_(torch.cat([A, torch.zeros(2, 2)])), enc.bias.copy_(torch.cat([-A @ b, post_var.diag().log()]))
    return model, W, b


def _log_marginal(x, W, b, sigma):
    cov = (W @ W.T + sigma**2 * torch.eye(2)).double()
    return torch.distributions.MultivariateNormal(b.double(), cov).log_prob(x.double())


def test_log_weights_on_a_linear_gaussian_model_give_the_closed_form_log_likelihood():
    torch.manual_seed(0)
    model, W, b = _linear_gaussian_vae(sigma=0.3)
    x = torch.tensor([[0.5, 1.0], [-2.0, 0.4], [3.0, -1.5]])
    exact = _log_marginal(x, W, b, 0.3)
    with torch.no_grad():  # with the exact posterior as q every weight is p(x): zero variance
        lw = model.log_weights(x.view(3, 1, 1, 2), k=16)
    assert torch.allclose(lw.double(), exact.expand(16, 3), atol=1e-4)
    with torch.no_grad():  # a posterior variance twice too wide: the IS estimate converges to log p(x) as K grows
        model.encoder[-1].bias[2:] += math.log(2.0)
        errors = [(torch.logsumexp(model.log_weights(x.view(3, 1, 1, 2), k=k).double(), 0) - math.log(k)
                   - exact).abs().max().item() for k in (1, 100, 20000)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01, errors


def test_samples_come_from_the_prior(make_cfg):
    model = instantiate(make_cfg("vae", "cifar10").model)
    s = model.sample(5)
    assert s.shape == (5, 3, 32, 32) and model.can_sample
