"""Denoising / inpainting autoencoder (Vincent et al., ICML 2008; Pathak et al., CVPR 2016 for inpainting).

The input is corrupted, the clean image is the target:  loss = −log p(x | D(E(c(x)))).
Corruptions (`noise` in config), all applied per batch on the device:
- gaussian:     c(x) = x + std·ε                         (ACAI's baseline uses std 1.0 on [-1, 1])
- salt_pepper:  each pixel set to the data min or max with probability `prob`
- mask:         `boxes` random rectangles per image (sides in [box_min, box_max] × image side) filled
                with the data minimum: inpainting.
"""
from __future__ import annotations

import torch

from lightning_ae.errors import UserError

from .ae import AE

NOISES = ("gaussian", "salt_pepper", "mask")


class DAE(AE):
    def __init__(self, noise: str = "gaussian", std: float = 0.5, prob: float = 0.2, boxes: int = 1,
                 box_min: float = 0.25, box_max: float = 0.5, value_range=(0.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        if noise not in NOISES:
            raise UserError(f"unknown model.noise {noise!r}; choose one of {', '.join(NOISES)}")
        self.noise, self.std, self.prob = noise, std, prob
        self.boxes, self.box_min, self.box_max = boxes, box_min, box_max
        self.lo, self.hi = (float(v) for v in value_range)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return self.corrupt_with_mask(x)[0]

    def corrupt_with_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """c(x) and, for `mask`, the [B, 1, H, W] mask of the hidden pixels (None for noise corruptions)."""
        if self.noise == "gaussian":
            return x + self.std * torch.randn_like(x), None
        if self.noise == "salt_pepper":
            hit = torch.rand_like(x) < self.prob
            salt = torch.rand_like(x) < 0.5
            return torch.where(hit, torch.where(salt, self.hi, self.lo), x), None
        mask = self.box_mask(x)
        return x.masked_fill(mask, self.lo), mask

    def box_mask(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, H, W] bool mask, True inside `boxes` random rectangles per image (vectorised)."""
        b, _, h, w = x.shape
        dev = x.device
        size = lambda n: (self.box_min + (self.box_max - self.box_min) * torch.rand(b, self.boxes, device=dev)) * n
        bh, bw = size(h).ceil(), size(w).ceil()
        top = torch.rand(b, self.boxes, device=dev) * (h - bh + 1)
        left = torch.rand(b, self.boxes, device=dev) * (w - bw + 1)
        rows = torch.arange(h, device=dev).view(1, 1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, 1, w)
        t, l_ = top.floor()[..., None, None], left.floor()[..., None, None]
        inside = (rows >= t) & (rows < t + bh[..., None, None]) & (cols >= l_) & (cols < l_ + bw[..., None, None])
        return inside.any(1, keepdim=True)

    def loss(self, batch):
        x, _ = batch
        recon = self.likelihood.nll(self.decoder(self.encoder(self.corrupt(x))), x).mean()
        return {"loss": recon, "recon": recon}

    def image_grids(self, x, y=None):
        n = min(8, len(x))
        noisy = self.corrupt(x[:n])
        grids = super().image_grids(x, y)
        grids["denoising"] = torch.stack([noisy, self.reconstruct(noisy), x[:n]], 1).flatten(0, 1)
        return grids
