"""A small PixelCNN (van den Oord et al., "Pixel Recurrent Neural Networks", ICML 2016) over a grid of
discrete codes, used as the VQ-VAE prior.

p(k) = Π_ij p(k_ij | k_<ij) in raster order. Codes are embedded, then one 7×7 conv with mask A (sees only
positions strictly before ij), residual blocks with 3×3 mask-B convs (may also see ij's own features, which
by then only carry information from before ij), and 1×1 convs to K logits per position.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedConv2d(nn.Conv2d):
    def __init__(self, cin: int, cout: int, kernel: int, mask_type: str):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        c = kernel // 2
        mask = torch.ones_like(self.weight)
        mask[:, :, c, c + (mask_type == "B"):] = 0  # the centre (A only) and everything right of it
        mask[:, :, c + 1:] = 0                       # every row below
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class _Block(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), MaskedConv2d(ch, ch, 3, "B"), nn.ReLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        return x + self.body(x)


class PixelCNN(nn.Module):
    """Code indices [B, h, w] → logits [B, num_codes, h, w]; `sample(n, h, w)` draws code grids."""

    def __init__(self, num_codes: int, hidden: int = 64, layers: int = 6, kernel: int = 7):
        super().__init__()
        self.num_codes = int(num_codes)
        self.embed = nn.Embedding(self.num_codes, hidden)
        self.first = MaskedConv2d(hidden, hidden, kernel, "A")
        self.blocks = nn.Sequential(*[_Block(hidden) for _ in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, self.num_codes, 1))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first(self.embed(idx).permute(0, 3, 1, 2))))

    @torch.no_grad()
    def sample(self, n: int, h: int, w: int, device=None, temperature: float = 1.0) -> torch.Tensor:
        """Ancestral sampling in raster order: h·w forward passes; returns LongTensor [n, h, w]."""
        idx = torch.zeros(n, h, w, dtype=torch.long, device=device)
        for i in range(h):
            for j in range(w):
                logits = self(idx)[:, :, i, j].float() / temperature
                idx[:, i, j] = torch.multinomial(logits.softmax(1), 1).squeeze(1)
        return idx
