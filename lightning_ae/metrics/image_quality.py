"""Per-image quality of a prediction against its target, and its mean over a data set.

All metrics work on images rescaled from the data's value range to [0, 1], so numbers compare across
data sets stored in [0, 1] or [-1, 1]:
- mse:  mean squared error per pixel;
- sse:  sum of squared errors over the pixels of an image: the protocol of Hinton & Salakhutdinov (2006),
        where the 30-d deep AE scores 3.00 and 30-component PCA 13.87 on MNIST;
- psnr: 10·log10(1 / mse) per image (inf when an image is reproduced exactly);
- ssim: structural similarity per image (Wang et al. 2004; torchmetrics, Gaussian window 11 or the largest
        odd size that fits a small image).
Data-set figures are means over images (torchmetrics' `MeanMetric`). Also: the squared error on masked
pixels only (inpainting), PSNR from a pooled MSE, and the pixel variance that normalises VQ-VAE's MSE
(van den Oord et al. 2017's reference code).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
from torchmetrics import MeanMetric
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def to_unit(x: torch.Tensor, value_range) -> torch.Tensor:
    lo, hi = (float(v) for v in value_range)
    return (x.float() - lo) / (hi - lo)


def ssim_kernel(height: int, width: int) -> int:
    return max(3, min(11, min(height, width) - (1 - min(height, width) % 2)))


def per_image(pred: torch.Tensor, target: torch.Tensor, value_range=(0.0, 1.0), ssim: bool = True
              ) -> dict[str, torch.Tensor]:
    """Per-image metrics [B] of predictions against targets, both in `value_range` (scored in [0, 1]);
    `ssim=False` leaves out the costliest one."""
    pred, target = to_unit(pred, value_range).cpu(), to_unit(target, value_range).cpu()
    sq = (pred - target).pow(2).flatten(1)
    out = {
        "mse": sq.mean(1),
        "sse": sq.sum(1),
        "psnr": peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3)),
    }
    if ssim:
        k = ssim_kernel(*target.shape[-2:])
        out["ssim"] = structural_similarity_index_measure(pred, target, data_range=1.0, kernel_size=k, reduction="none")
    return out


def mean_over_images(batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
    """The mean over every image of each per-image metric, given batch by batch (`per_image` results)."""
    means: dict[str, MeanMetric] = {}
    for values in batches:
        for key, v in values.items():
            means.setdefault(key, MeanMetric(nan_strategy="disable").set_dtype(torch.float64)).update(v.double())
    return {key: float(m.compute()) for key, m in means.items()}


def masked_errors(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, value_range=(0.0, 1.0)
                  ) -> dict[str, torch.Tensor]:
    """Per image [B], on the masked pixels only (mask [B, 1 or C, H, W], True = scored; all channels):
    masked_sse, the summed squared error in [0, 1] units, and masked_pixels, how many values it sums."""
    sq = (to_unit(pred, value_range) - to_unit(target, value_range)).pow(2).cpu()
    mask = mask.expand_as(sq).cpu().float()
    return {"masked_sse": (sq * mask).flatten(1).sum(1), "masked_pixels": mask.flatten(1).sum(1)}


def psnr_from_mse(mse: float) -> float:
    """10·log10(1 / mse) for a mean squared error in [0, 1] units (inf for an exact match)."""
    return 10 * math.log10(1 / mse) if mse > 0 else math.inf


def pixel_variance(x: torch.Tensor, value_range=(0.0, 1.0)) -> float:
    """The variance of all pixel values of x in [0, 1] units (the normaliser of VQ-VAE's normalised MSE)."""
    return float(to_unit(x, value_range).double().var(unbiased=False))
