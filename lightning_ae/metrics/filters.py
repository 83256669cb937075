"""Classical restorers of corrupted images: the baselines a denoising autoencoder's output must beat
(issue #11's DAE row, after Vincent et al. 2008). Pure torch, batched over [B, C, H, W] images.

- Gaussian blur with standard deviation σ (torchvision's separable kernel, 2·⌈3σ⌉ + 1 wide, reflect padding);
- 3×3 median filter (reflect padding): the classical remedy for salt-and-pepper noise;
- mean fill: hidden (masked) pixels replaced by the per-pixel mean of the training images (inpainting).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur as torchvision_blur


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x blurred by a Gaussian of std `sigma` pixels; the kernel is cut to fit small images."""
    side = min(x.shape[-2:])
    size = min(2 * math.ceil(3 * sigma) + 1, 2 * side - 1)  # odd, and reflect padding stays inside the image
    return torchvision_blur(x.float(), [size, size], [sigma, sigma])


def median3(x: torch.Tensor) -> torch.Tensor:
    """The median of each pixel's 3×3 neighbourhood, channel by channel."""
    b, c, h, w = x.shape
    windows = F.unfold(F.pad(x.float(), (1, 1, 1, 1), mode="reflect"), 3)  # [B, C·9, H·W]
    return windows.view(b, c, 9, h * w).median(2).values.view(b, c, h, w)


def mean_fill(x: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """x with its masked pixels (mask True, broadcast over channels) set to `mean` [C, H, W]."""
    return torch.where(mask, mean.to(x), x)
