"""What every variant shares: the interface, optimizer set-up from config, per-split logging.

A variant subclasses `AutoencoderModule`, builds its networks in `__init__`, and implements
`encode`, `decode` and `loss(batch) -> {"loss": ..., other terms}`. Everything a variant logs comes
from that dict: `train/<term>` per step, and per epoch `train/<term>_epoch`, `val/<term>`, `test/<term>`,
each averaged with a torchmetrics `MeanMetric` (weighted by batch size, reduced across DDP ranks once
per epoch, not every step).
"""
from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric

from lightning_ae.errors import UserError
from lightning_ae.likelihoods import Likelihood


class AutoencoderModule(pl.LightningModule):
    #: names of the terms `loss()` returns; each gets a MeanMetric per split
    loss_terms: tuple[str, ...] = ("loss",)
    #: whether `sample(n)` draws from a prior
    can_sample = False

    def __init__(
        self,
        shape: list[int],
        latent_dim: int,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        likelihood: str = "bernoulli",
        likelihood_std: float = 0.1,
    ):
        super().__init__()
        if int(latent_dim) <= 0:
            raise UserError(f"model.latent_dim must be a positive integer, got {latent_dim}")
        self.shape = tuple(int(s) for s in shape)
        self.latent_dim = int(latent_dim)
        self.optimizer_factory = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
        self.scheduler_factory = scheduler if callable(scheduler) else None  # scheduler=none composes to {}
        self.likelihood = Likelihood(likelihood, likelihood_std)
        self.meters = nn.ModuleDict(
            {f"{split}_{term}": MeanMetric() for split in ("train", "val", "test") for term in self.loss_terms}
        )
        #: the resolved run config, stored in every checkpoint (set by the train entry point)
        self.run_config: dict | None = None

    # -- the interface every variant exposes -------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent → image in data space."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no prior to sample from")

    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode `steps` points on the line between the codes of x1 and x2: [B, steps, C, H, W]."""
        z1, z2 = self.encode(x1), self.encode(x2)
        alpha = torch.linspace(0, 1, steps, device=z1.device).view(1, steps, *([1] * (z1.dim() - 1)))
        z = (1 - alpha) * z1.unsqueeze(1) + alpha * z2.unsqueeze(1)
        return self.decode(z.flatten(0, 1)).unflatten(0, (len(x1), steps))

    def image_grids(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named image batches [N, C, H, W] for the ImageGrids callback; rows of `nrow` images."""
        n = min(8, len(x))
        grids = {"reconstructions": torch.stack([x[:n], self.reconstruct(x[:n])], 1).flatten(0, 1)}
        if self.can_sample:
            grids["samples"] = self.sample(64)
        if len(x) >= 2:
            k = min(8, len(x) // 2)
            grids["interpolations"] = self.interpolate(x[:k], x[k : 2 * k], steps=8).flatten(0, 1)
        return grids

    # -- training story ------------------------------------------------------------------------
    def loss(self, batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def log_terms(self, split: str, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        """Per-epoch means of every term through the split's MeanMetrics; train also logs each step."""
        epoch_suffix = "_epoch" if split == "train" else ""
        for k, v in terms.items():
            v = v.detach()
            meter = self.meters[f"{split}_{k}"]
            meter.update(v, weight=batch_size)
            self.log(f"{split}/{k}{epoch_suffix}", meter, on_step=False, on_epoch=True, prog_bar=k == "loss")
            if split == "train":
                self.log(f"train/{k}", v, on_step=True, on_epoch=False)

    def training_step(self, batch, batch_idx):
        terms = self.loss(batch)
        self.log_terms("train", terms, len(batch[0]))
        return terms["loss"]

    def validation_step(self, batch, batch_idx):
        self.log_terms("val", self.loss(batch), len(batch[0]))

    def test_step(self, batch, batch_idx):
        self.log_terms("test", self.loss(batch), len(batch[0]))

    def configure_optimizers(self):
        opt = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt), "interval": "epoch"}}

    # -- checkpoints carry the config that built them ---------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        from lightning_ae import __version__

        checkpoint["lightning_ae"] = {"version": __version__, "config": self.run_config}
