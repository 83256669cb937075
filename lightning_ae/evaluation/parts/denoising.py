"""denoise/*: a denoising model against the corrupted input and a classical filter (Vincent et al. 2008; models
with `corrupt(x)`), all scored against the clean image on the same corrupted test images:

- {psnr,ssim}_input: the corrupted input as the model sees it (not clipped);
- {psnr,ssim}_output: the model's reconstruction of it;
- {psnr,ssim}_filter: the best classical restorer (`lightning_ae.metrics.filters`), and `filter`, which one:
  for noise, the better by PSNR of a 3×3 median (filter = 0) and a Gaussian blur (filter = its σ, from
  `denoising.blur_sigmas`), both on the input clipped to the data range; for inpainting masks (models with
  `corrupt_with_mask`, e.g. DAE with noise=mask), the per-pixel mean of the training images in the hidden
  pixels (filter = -1);
- psnr_masked_{input,output,filter} (masks only): PSNR on the hidden pixels alone.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from functools import partial

from lightning_ae.evaluation.calls import batches
from lightning_ae.evaluation.capabilities import Corrupts, CorruptsWithMask
from lightning_ae.evaluation.splits import scored, training
from lightning_ae.metrics.filters import gaussian_blur, mean_fill, median3
from lightning_ae.metrics.image_quality import masked_psnr, mean_over_images, per_image

log = logging.getLogger("lightning_ae")

MEDIAN, MEAN_FILL = 0.0, -1.0  # the `denoise/filter` codes that are not a blur's σ


def applies(model, datamodule) -> bool:
    return isinstance(model, Corrupts)


def restorers(datamodule, cfg, inpainting: bool) -> dict:
    """{filter code: restore(corrupted, mask)}: the classical baselines of this kind of corruption."""
    if inpainting:
        mean = training(datamodule)[0].float().mean(0)
        return {MEAN_FILL: lambda c, mask: mean_fill(c, mask, mean)}
    lo, hi = (float(v) for v in datamodule.value_range)
    clipped = lambda f: lambda c, mask: f(c.clamp(lo, hi))  # noqa: E731
    return {MEDIAN: clipped(median3)} | {float(s): clipped(partial(gaussian_blur, sigma=float(s)))
                                         for s in cfg.denoising.blur_sigmas}


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, _ = scored(datamodule, cfg)
    vr = datamodule.value_range
    with_mask = isinstance(model, CorruptsWithMask)
    scores, restore = defaultdict(list), None
    for xb, _ in batches(x, None, int(cfg.batch_size), device):
        cb, mask = model.corrupt_with_mask(xb) if with_mask else (model.corrupt(xb), None)
        restore = restore or restorers(datamodule, cfg, inpainting=mask is not None)
        candidates = {"input": cb, "output": model.reconstruct(cb)} | {code: f(cb, mask) for code, f in restore.items()}
        for name, pred in candidates.items():
            scores[name].append(per_image(pred, xb, vr) |
                                ({} if mask is None else {"psnr_masked": masked_psnr(pred, xb, mask, vr)}))
    means = {name: mean_over_images(s) for name, s in scores.items()}
    best = max(restore, key=lambda code: means[code]["psnr"])
    means["filter"] = means[best]
    log.info("denoising: the classical baseline is %s", "mean fill" if best == MEAN_FILL else
             "the 3x3 median" if best == MEDIAN else f"a Gaussian blur with sigma {best:g}")
    out = {f"denoise/{m}_{name}": means[name][m] for name in ("input", "output", "filter") for m in ("psnr", "ssim")}
    if MEAN_FILL in restore:
        out |= {f"denoise/psnr_masked_{name}": means[name]["psnr_masked"] for name in ("input", "output", "filter")}
    return out | {"denoise/filter": best}
