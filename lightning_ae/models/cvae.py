"""Conditional VAE (Sohn, Lee, Yan, "Learning Structured Output Representation using Deep Conditional
Generative Models", NeurIPS 2015), conditioned on the class label the datamodule provides.

    e = W·onehot(y)                       (a learned label embedding, `embed_dim` wide)
    q(z|x,y) = N(μ, diag σ²),  [μ, log σ²] = H([F(x), e])     F = the net's encoder, H = a linear head
    p(x|z,y) = the net's decoder on [z, e]
    loss = −E_q[log p(x|z,y)] + β·KL(q(z|x,y) ‖ N(0, I))       (negative conditional ELBO, eq. 4, prior N(0, I))

`sample(n, y)` decodes z ~ N(0, I) for the chosen classes (y=None: classes 0, 1, … in turn); the logged
`samples` grid has one row per class. Without a label (`encode(x)`, `decode(z)`, `reconstruct(x)` called
by generic code) the label embedding is the mean over classes — one documented fallback for every call;
pass `y` wherever it is known. `log_weights(x, k, y)` needs y (the likelihood is conditional).
Data without labels (CelebA, a flat folder) stops at set-up with a one-line error.
"""
from __future__ import annotations

import torch
from torch import nn

from lightning_ae.errors import UserError

from .base import AutoencoderModule
from .vae import VAE


class CVAE(VAE):
    loss_terms = ("loss", "recon", "kl", "elbo")
    can_sample = True

    def __init__(self, net, num_classes: int, embed_dim: int = 16, feature_dim: int = 256, beta: float = 1.0,
                 **kwargs):
        AutoencoderModule.__init__(self, **kwargs)  # VAE's networks are unconditional: build ours instead
        self.beta = beta
        self.num_classes = int(num_classes)
        self.label_embedding = nn.Embedding(max(self.num_classes, 1), embed_dim)  # = one-hot × matrix
        self.encoder = net.encoder(self.shape, feature_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim + embed_dim, 2 * self.latent_dim))
        self.decoder = net.decoder(self.latent_dim + embed_dim, self.shape)

    # -- labels ---------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        self.check_data(getattr(self.trainer, "datamodule", None))

    def check_data(self, dm) -> None:
        """Labels are needed; also called by train.py before the run writes anything into its directory."""
        name = getattr(dm, "name", "this data")
        if self.num_classes <= 0 or (dm is not None and getattr(dm, "num_classes", 1) <= 0):
            raise UserError(f"model=cvae needs class labels, but data={name} has none (num_classes=0); use "
                            "labelled data (digits, mnist, fashion_mnist, cifar10, lines) or a folder with one "
                            "sub-folder per class and data.num_classes set")

    def embed(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """Label embeddings [n, E]; y=None → the mean embedding over classes (the documented fallback)."""
        if y is None:
            return self.label_embedding.weight.mean(0, keepdim=True).expand(n, -1)
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if len(y) == 1 and n > 1:
            y = y.expand(n)
        if (y < 0).any() or (y >= self.num_classes).any():
            raise UserError(f"model=cvae got class labels outside 0..{self.num_classes - 1} (−1 = unlabelled); "
                            "it needs labelled data whose data.num_classes matches the labels")
        return self.label_embedding(y)

    # -- conditional networks -------------------------------------------------------------------
    def posterior(self, x, y=None):
        e = self.embed(y, len(x)).to(x.dtype)
        mu, logvar = self.head(torch.cat([self.encoder(x), e], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def _decoder_out(self, z, e):
        return self.decoder(torch.cat([z, e.to(z.dtype)], 1))

    def encode(self, x, y=None):
        return self.posterior(x, y)[0]

    def decode(self, z, y=None):
        return self.likelihood.mean(self._decoder_out(z, self.embed(y, len(z))))

    def reconstruct(self, x, y=None):
        return self.decode(self.encode(x, y), y)

    def sample(self, n, y=None):
        """n images; y a class or n classes (None: classes 0, 1, 2, … in turn)."""
        if y is None:
            y = torch.arange(n, device=self.device) % self.num_classes
        return self.decode(torch.randn(n, self.latent_dim, device=self.device), y)

    def interpolate(self, x1, x2, steps=8, y1=None, y2=None):
        """Decode the line between (z1, e1) and (z2, e2): code and label embedding move together."""
        z1, z2 = self.encode(x1, y1), self.encode(x2, y2)
        e1, e2 = self.embed(y1, len(x1)), self.embed(y2, len(x2))
        a = torch.linspace(0, 1, steps, device=z1.device).view(1, steps, 1)
        z = ((1 - a) * z1.unsqueeze(1) + a * z2.unsqueeze(1)).flatten(0, 1)
        e = ((1 - a) * e1.unsqueeze(1) + a * e2.unsqueeze(1)).flatten(0, 1)
        return self.likelihood.mean(self._decoder_out(z, e)).unflatten(0, (len(x1), steps))

    def image_grids(self, x, y=None, per_class: int = 8):
        labelled = y is not None and bool((y >= 0).all())
        y = y if labelled else None
        n = min(8, len(x))
        grids = {"reconstructions": torch.stack([x[:n], self.reconstruct(x[:n], None if y is None else y[:n])],
                                                1).flatten(0, 1)}
        rows = torch.arange(self.num_classes, device=self.device).repeat_interleave(per_class)
        grids["samples"] = self.sample(len(rows), rows)  # row r: `per_class` samples of class r
        if len(x) >= 2:
            k = min(8, len(x) // 2)
            ya, yb = (None, None) if y is None else (y[:k], y[k:2 * k])
            grids["interpolations"] = self.interpolate(x[:k], x[k:2 * k], 8, ya, yb).flatten(0, 1)
        return grids

    # -- training story -------------------------------------------------------------------------
    def log_weights(self, x, k: int = 1, y=None):
        """log p(x|z,y) + log p(z) − log q(z|x,y) for k draws z ~ q(z|x,y): [k, B] (conditional, so y is needed)."""
        if y is None:
            raise UserError("CVAE.log_weights(x, k, y) needs the class labels y of x")
        e = self.embed(y, len(x)).repeat(k, 1)
        return self.importance_weights(x, *self.posterior(x, y), k, lambda z: self._decoder_out(z, e))

    def loss(self, batch):
        x, y = batch
        mu, logvar = self.posterior(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.likelihood.nll(self._decoder_out(z, self.embed(y, len(x))), x).mean()
        kl = self.kl(mu, logvar).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl, "elbo": -(recon + kl)}
