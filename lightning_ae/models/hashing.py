"""Semantic hashing autoencoder (Salakhutdinov & Hinton, "Semantic hashing", IJAR 2009).

The code layer has B = `latent_dim` logistic units that must become binary:

    a = E(x) ∈ R^B                       (code pre-activations)
    training, binarize=noise:            c = σ(a + ε),  ε ~ N(0, noise_std²)   (noise before the sigmoid: the
                                         decoder only works if the code saturates, §3 of the paper)
    training, binarize=straight_through: c = 1[a > 0] forward, gradient of σ(a) backward
    evaluation / hash_codes:             c = 1[σ(a) > 0.5] = 1[a > 0]              (hard bits)
    loss = −log p(x | D(c))              (per image, averaged over the batch)

Val and test losses use the hard bits, so they measure the reconstruction a hash code really allows.
Logs `recon` and `saturation` (share of σ(a) within 0.1 of 0 or 1, without noise).
`hash_codes(x)` gives the bits for `lightning_ae.hashing` (index, retrieval metrics, command line).
"""
from __future__ import annotations

import torch

from lightning_ae.errors import UserError

from .base import AutoencoderModule

MODES = ("noise", "straight_through")


class Hashing(AutoencoderModule):
    loss_terms = ("loss", "recon", "saturation")

    def __init__(self, net, binarize: str = "noise", noise_std: float = 4.0, **kwargs):
        super().__init__(**kwargs)  # latent_dim = B, the number of bits
        if binarize not in MODES:
            raise UserError(f"unknown model.binarize {binarize!r}; choose one of {', '.join(MODES)}")
        self.binarize, self.noise_std = binarize, float(noise_std)
        self.encoder = net.encoder(self.shape, self.latent_dim)
        self.decoder = net.decoder(self.latent_dim, self.shape)

    @property
    def bits(self) -> int:
        return self.latent_dim

    def code(self, a: torch.Tensor) -> torch.Tensor:
        """Pre-activations → the code the decoder sees (relaxed while training, hard bits otherwise)."""
        if not self.training:
            return (a > 0).to(a.dtype)
        if self.binarize == "noise":
            return torch.sigmoid(a + self.noise_std * torch.randn_like(a))
        soft = torch.sigmoid(a)
        return soft + ((a > 0).to(a.dtype) - soft).detach()

    def hash_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Hard bits, bool [B, bits]."""
        return self.encoder(x) > 0

    def encode(self, x):
        return self.hash_codes(x).to(x.dtype)

    def decode(self, z):
        return self.likelihood.mean(self.decoder(z))

    def loss(self, batch):
        x, _ = batch
        a = self.encoder(x)
        recon = self.likelihood.nll(self.decoder(self.code(a)), x).mean()
        p = torch.sigmoid(a.detach().float())
        saturation = ((p - 0.5).abs() > 0.4).float().mean()
        return {"loss": recon, "recon": recon, "saturation": saturation}
