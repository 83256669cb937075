"""recon/{mse,sse,psnr,ssim,nmse}: the model's reconstructions of the scored images (every model).

nmse = mse / the variance of the scored images' pixels (both in [0, 1] units): the normalised MSE of
VQ-VAE reproductions (van den Oord et al. 2017's reference code divides by the data variance); a model that
outputs the mean pixel value scores 1 (undefined, NaN, on constant images).
"""
from __future__ import annotations

from lightning_ae.evaluation.calls import batches, call_with_labels
from lightning_ae.evaluation.capabilities import Reconstructs
from lightning_ae.evaluation.splits import scored
from lightning_ae.metrics.image_quality import mean_over_images, per_image, pixel_variance


def applies(model, datamodule) -> bool:
    return isinstance(model, Reconstructs)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    vr = datamodule.value_range
    means = mean_over_images(per_image(call_with_labels(model.reconstruct, xb, yb), xb, vr)
                             for xb, yb in batches(x, y, int(cfg.batch_size), device))
    variance = pixel_variance(x, vr)
    means["nmse"] = means["mse"] / variance if variance > 0 else float("nan")  # constant images: undefined
    return {f"recon/{k}": v for k, v in means.items()}
