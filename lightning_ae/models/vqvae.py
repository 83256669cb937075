"""VQ-VAE (van den Oord, Vinyals, Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017).

    z_e = E(x) ∈ R^{D×h×w},   k*_ij = argmin_k ‖z_e,ij − e_k‖²,   z_q,ij = e_{k*_ij},   x̂ = D(z_q)
    loss = recon + ‖sg[z_e] − z_q‖² + β‖z_e − sg[z_q]‖²                                   (eq. 3)

with the straight-through gradient (z_q's gradient is copied to z_e). With `ema: true` the codebook term is
dropped and the codebook follows exponential moving averages of its assigned encoder outputs (appendix
A.1, decay 0.99). The balance is the reference implementation's (the official sonnet VQ-VAE example), the
one β = 0.25 was chosen for: every term is a mean, not a sum,
    recon = mean over pixels of (x̂ − x)² / Var[x],   codebook, commitment = means over the D·h·w grid,
so `recon` is the normalised MSE that reproductions report. Var[x] is the pixel variance of the first batch
the model sees (a buffer, so it is checkpointed); `x̂` is the decoder output mapped to data space by the
likelihood (a sigmoid for bernoulli data). Quantiser, EMA, dead-code restarts, float32 numerics and the DDP
sync: `lightning_ae.nets.vq`.

Logs: train/val/test `loss`, `recon`, `codebook`, `commitment`, and `perplexity` = exp(H) of code use and
`dead_codes` = share of codes unused — per training batch (dead = EMA usage below threshold), over the
whole split for val and test (counts summed over processes).

A VQ-VAE alone cannot sample: train `model=vqvae_prior model.vqvae_ckpt=<this run>/checkpoints/last.ckpt`
(a PixelCNN over the code grid) and sample from that.
"""
from __future__ import annotations

import torch

from lightning_ae.errors import UserError
from lightning_ae.metrics.codebook import usage_from_counts
from lightning_ae.nets.vq import VectorQuantizer

from .base import AutoencoderModule


class VQVAE(AutoencoderModule):
    loss_terms = ("loss", "recon", "codebook", "commitment")

    def __init__(self, net, num_codes: int = 512, beta: float = 0.25, ema: bool = True, decay: float = 0.99,
                 restart_dead: bool = True, dead_threshold: float = 0.1, **kwargs):
        super().__init__(**kwargs)  # latent_dim = D, the size of one code vector
        if not hasattr(net, "grid"):
            raise UserError("model=vqvae needs a net with a spatial latent grid; use model/net=vq")
        if int(num_codes) < 2:
            raise UserError(f"model.num_codes must be at least 2, got {num_codes}")
        self.num_codes, self.beta = int(num_codes), float(beta)
        self.encoder = net.encoder(self.shape, self.latent_dim)
        self.decoder = net.decoder(self.latent_dim, self.shape)
        self.quantizer = VectorQuantizer(self.num_codes, self.latent_dim, ema=ema, decay=decay,
                                         restart_dead=restart_dead, dead_threshold=dead_threshold)
        self.grid = net.grid(self.shape)
        self.register_buffer("split_counts", torch.zeros(self.num_codes), persistent=False)
        self.register_buffer("data_variance", torch.tensor(0.0))  # 0 until the first batch sets it
        self._variance_known = False
        self._indices: torch.Tensor | None = None

    # -- interface ------------------------------------------------------------------------------
    def code_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Images → code indices [B, h, w] (LongTensor)."""
        return self.quantizer.indices(self.encoder(x))

    def encode(self, x):
        """Images → quantised grid z_q [B, D, h, w] (no codebook update, whatever the mode)."""
        return self.quantizer.lookup(self.code_indices(x)).to(x.dtype)

    def decode(self, z):
        return self.likelihood.mean(self.decoder(z))

    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Blend the encoder outputs z_e, quantise each blend, decode: [B, steps, C, H, W]. This is how the ACAI paper
        interpolates its VQ-VAE baseline (brain-research/acai: `lib/train.py` blends `ops.encode`, the encoder output,
        and `vqvae.py`'s decode quantises what it is given); a blend of two code grids z_q would decode a point
        no code grid holds."""
        z1, z2 = self.encoder(x1), self.encoder(x2)
        alpha = torch.linspace(0, 1, steps, device=z1.device).view(1, steps, 1, 1, 1)
        z = ((1 - alpha) * z1.unsqueeze(1) + alpha * z2.unsqueeze(1)).flatten(0, 1)
        return self.decode(self.quantizer.lookup(self.quantizer.indices(z)).to(z.dtype)).unflatten(0, (len(x1), steps))

    def decode_indices(self, idx: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantizer.lookup(idx))

    def sample(self, n):
        raise UserError("model=vqvae has no prior to sample from; train model=vqvae_prior "
                        "model.vqvae_ckpt=<run dir>/checkpoints/last.ckpt and sample from that")

    # -- training story -------------------------------------------------------------------------
    def loss(self, batch):
        x, _ = batch
        q = self.quantizer(self.encoder(x))
        self._indices = q["indices"]
        x_hat = self.likelihood.mean(self.decoder(q["z_q"]).float())
        recon = (x_hat - x.float()).pow(2).mean() / self.pixel_variance(x)
        codebook, commitment = q["codebook"].mean(), q["commitment"].mean()
        loss = recon + codebook + self.beta * commitment
        return {"loss": loss, "recon": recon, "codebook": codebook, "commitment": commitment}

    def pixel_variance(self, x: torch.Tensor) -> torch.Tensor:
        """Var[x] over every pixel of the first batch seen (averaged over processes), then fixed; a checkpoint's
        value is kept. The buffer is read back to the host once per process, not every step."""
        if not self._variance_known:
            if not self.data_variance:
                v = x.detach().float().var()
                if self._trainer is not None:
                    v = self.trainer.strategy.reduce(v, reduce_op="mean")
                self.data_variance.fill_(max(float(v), 1e-12))  # a constant batch must not divide by 0
            self._variance_known = True
        return self.data_variance

    def _counts(self) -> torch.Tensor:
        return torch.bincount(self._indices.reshape(-1), minlength=self.num_codes).float()

    def train_batch(self, batch):
        loss = super().train_batch(batch)
        n = len(batch[0])
        figures = {"perplexity": usage_from_counts(self._counts())["perplexity"],
                   "dead_codes": self.quantizer.dead().float().mean()}
        self.log_train(figures, n)  # per step, and the epoch mean as train/<k>_epoch
        return loss

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.split_counts += self._counts()

    def test_step(self, batch, batch_idx):
        super().test_step(batch, batch_idx)
        self.split_counts += self._counts()

    def _log_usage(self, split: str) -> None:
        counts = self.trainer.strategy.reduce(self.split_counts.clone(), reduce_op="sum")
        usage = usage_from_counts(counts)
        self.log(f"{split}/perplexity", usage["perplexity"], sync_dist=True)  # equal on every rank already
        self.log(f"{split}/dead_codes", usage["dead_share"], sync_dist=True)
        self.split_counts.zero_()

    def on_validation_epoch_start(self):
        self.split_counts.zero_()

    def on_test_epoch_start(self):
        self.split_counts.zero_()

    def on_validation_epoch_end(self):
        self._log_usage("val")

    def on_test_epoch_end(self):
        self._log_usage("test")
