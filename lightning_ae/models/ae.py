"""Plain autoencoder (Hinton & Salakhutdinov, Science 2006).

    z = E(x),  x̂ = D(z),  loss = −log p(x | x̂)  summed over pixels, averaged over the batch

With the Bernoulli likelihood this is the paper's cross-entropy; with the Gaussian one, squared error
(scaled by 1/2σ²). The code is linear (no activation), as in the paper's 30-d code layer.
"""
from __future__ import annotations

from .base import AutoencoderModule


class AE(AutoencoderModule):
    loss_terms = ("loss", "recon")

    def __init__(self, net, **kwargs):
        super().__init__(**kwargs)
        self.encoder = net.encoder(self.shape, self.latent_dim)
        self.decoder = net.decoder(self.latent_dim, self.shape)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.likelihood.mean(self.decoder(z))

    def loss(self, batch):
        x, _ = batch
        recon = self.likelihood.nll(self.decoder(self.encoder(x)), x).mean()
        return {"loss": recon, "recon": recon}
