"""Reconstruction quality, its PCA baseline, and denoising / inpainting quality.

All image metrics work on images rescaled from the data's value range to [0, 1], so numbers compare
across data sets stored in [0, 1] or [-1, 1]:
- mse:  mean squared error per pixel;
- sse:  sum of squared errors over the pixels of an image, mean over images: the protocol of Hinton &
        Salakhutdinov (2006), where the 30-d deep AE scores 3.00 and 30-component PCA 13.87 on MNIST;
- psnr: 10·log10(1 / mse) per image, mean over images (inf when every image is reproduced exactly);
- ssim: structural similarity per image (torchmetrics, Gaussian window 11 or the largest odd size that
        fits a small image), mean over images.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from lightning_ae.evaluation.calls import call_with_labels


def to_unit(x: torch.Tensor, value_range) -> torch.Tensor:
    lo, hi = (float(v) for v in value_range)
    return (x.float() - lo) / (hi - lo)


def ssim_kernel(height: int, width: int) -> int:
    return max(3, min(11, min(height, width) - (1 - min(height, width) % 2)))


def per_image(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image metrics [B] of predictions against targets, both already in [0, 1]."""
    pred, target = pred.float(), target.float()
    sq = (pred - target).pow(2).flatten(1)
    k = ssim_kernel(*target.shape[-2:])
    return {
        "mse": sq.mean(1),
        "sse": sq.sum(1),
        "psnr": peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3)),
        "ssim": structural_similarity_index_measure(pred, target, data_range=1.0, kernel_size=k, reduction="none"),
    }


class Means:
    """Running means of per-image metric batches."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def update(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v.double().sum())
        self.count += len(next(iter(values.values())))

    def result(self) -> dict[str, float]:
        return {k: s / max(self.count, 1) for k, s in self.sums.items()}


@torch.no_grad()
def reconstruction_metrics(reconstruct: Callable, x: torch.Tensor, value_range, batch_size: int = 500,
                           device: str | torch.device = "cpu", y: torch.Tensor | None = None) -> dict[str, float]:
    """mse, sse, psnr, ssim of `reconstruct(x_batch)` against x (labels given where reconstruct takes `y`)."""
    means = Means()
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        out = call_with_labels(reconstruct, xb, y[i : i + batch_size].to(device) if y is not None else None)
        means.update(per_image(to_unit(out, value_range).cpu(), to_unit(xb, value_range).cpu()))
    return means.result()


def pca_reconstruct(train_x: torch.Tensor, x: torch.Tensor, components: int, seed: int = 0) -> torch.Tensor:
    """Project x onto the first `components` principal components of train_x and back (sklearn PCA)."""
    from sklearn.decomposition import PCA

    flat = train_x.flatten(1).double().numpy()
    components = int(min(components, flat.shape[0], flat.shape[1]))
    pca = PCA(n_components=components, random_state=seed).fit(flat)
    recon = pca.inverse_transform(pca.transform(x.flatten(1).double().numpy()))
    return torch.from_numpy(np.asarray(recon)).float().view_as(x)


def pca_baseline(train_x: torch.Tensor, x: torch.Tensor, components: int, value_range) -> dict[str, float]:
    """The reconstruction metrics of PCA with as many components as the model's code has numbers."""
    recon = pca_reconstruct(to_unit(train_x, value_range), to_unit(x, value_range), components)
    means = Means()
    means.update(per_image(recon, to_unit(x, value_range)))
    return means.result() | {"components": float(min(components, *train_x.flatten(1).shape))}


@torch.no_grad()
def denoising_metrics(corrupt: Callable, reconstruct: Callable, x: torch.Tensor, value_range,
                      batch_size: int = 500, device: str | torch.device = "cpu") -> dict[str, float]:
    """PSNR (and SSIM) of the corrupted input and of the model's output, both against the clean image.

    The corrupted input is scored as the model sees it (not clipped to the value range)."""
    noisy, out = Means(), Means()
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        cb = corrupt(xb)
        clean = to_unit(xb, value_range).cpu()
        noisy.update(per_image(to_unit(cb, value_range).cpu(), clean))
        out.update(per_image(to_unit(reconstruct(cb), value_range).cpu(), clean))
    n, o = noisy.result(), out.result()
    return {"psnr_input": n["psnr"], "psnr_output": o["psnr"], "ssim_input": n["ssim"], "ssim_output": o["ssim"]}
