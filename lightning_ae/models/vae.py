"""Variational autoencoder (Kingma & Welling, ICLR 2014), with the β weight of Higgins et al. (2017).

    q(z|x) = N(μ(x), diag σ²(x)),  z = μ + σ·ε  (reparameterisation, eq. 10)
    loss   = −E_q[log p(x|z)] + β·KL(q(z|x) ‖ N(0, I))        (negative ELBO for β = 1, eq. 10)
    KL     = ½ Σ (μ² + σ² − 1 − log σ²)                         (analytic, appendix B)

Terms are per image in nats, averaged over the batch. `sample(n)` decodes z ~ N(0, I).
"""
from __future__ import annotations

import math

import torch

from .base import AutoencoderModule


class GaussianLatent:
    """The Gaussian-posterior side shared with VAE-GAN: `self.encoder` emits (μ, log σ²) of q(z|x),
    `self.decoder` maps z to the likelihood's parameters, the prior is N(0, I)."""

    def posterior(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def encode(self, x):
        return self.posterior(x)[0]

    def decode(self, z):
        return self.likelihood.mean(self.decoder(z))

    def sample(self, n):
        return self.decode(torch.randn(n, self.latent_dim, device=self.device))

    @staticmethod
    def kl(mu, logvar):
        return 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).sum(1)


class VAE(GaussianLatent, AutoencoderModule):
    loss_terms = ("loss", "recon", "kl", "elbo")
    can_sample = True

    def __init__(self, net, beta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = beta
        self.encoder = net.encoder(self.shape, 2 * self.latent_dim)
        self.decoder = net.decoder(self.latent_dim, self.shape)

    def log_weights(self, x, k: int = 1):
        """Importance log-weights log p(x|z) + log p(z) − log q(z|x) for k draws z ~ q(z|x): [k, B].

        −mean over k is a negative-ELBO estimate; −(logsumexp over k − log k) the IS-NLL (Burda et al. 2015).
        """
        return self.importance_weights(x, *self.posterior(x), k, self.decoder)

    def importance_weights(self, x, mu, logvar, k: int, decoder) -> torch.Tensor:
        """log p(x|z) + log N(z; 0, I) − log N(z; μ, σ²) for k draws z = μ + σε: [k, B]; `decoder` maps the
        [k·B, latent] draws (k blocks of the batch) to the likelihood's parameters."""
        mu, logvar = mu.float(), logvar.float()
        eps = torch.randn(k, *mu.shape, device=mu.device)
        z = mu + (0.5 * logvar).exp() * eps
        log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_p = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
        out = decoder(z.flatten(0, 1).to(x.dtype))
        log_lik = -self.likelihood.nll(out, x.repeat(k, *([1] * (x.dim() - 1)))).view(k, -1)
        return log_lik + log_p - log_q

    def loss(self, batch):
        x, _ = batch
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.likelihood.nll(self.decoder(z), x).mean()
        kl = self.kl(mu, logvar).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl, "elbo": -(recon + kl)}
