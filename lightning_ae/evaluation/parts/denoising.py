"""denoise/*: a denoising model against the corrupted input and a classical filter (Vincent et al. 2008; models
with `corrupt(x)`), all scored against the clean image on the same corrupted test images:

- {psnr,ssim}_input: the corrupted input as the model sees it (not clipped);
- {psnr,ssim}_output: the model's reconstruction of it; for inpainting masks, the model's prediction of the
  hidden pixels pasted into the visible ones (as Pathak et al. 2016 do, and as the mean fill does);
- {psnr,ssim}_filter: the best classical restorer (`lightning_ae.metrics.filters`), and `filter`, which one:
  for noise, the better by PSNR of a 3×3 median (filter = 0) and a Gaussian blur (filter = its σ, from
  `denoising.blur_sigmas`), both on the input clipped to the data range; for inpainting masks (models with
  `corrupt_with_mask`, e.g. DAE with noise=mask), the per-pixel mean of the training images in the hidden
  pixels (filter = -1);
- psnr_masked_{input,output,filter} (masks only): PSNR on the hidden pixels alone.

PSNR here is that of the test set's mean squared error, 10·log10(1 / MSE) (the mean of per-image PSNRs would
be infinite as soon as one box hides only background); SSIM is the mean over images.
"""
from __future__ import annotations

import logging
from functools import partial

import torch

from lightning_ae.evaluation.calls import batches
from lightning_ae.evaluation.capabilities import Corrupts, CorruptsWithMask
from lightning_ae.evaluation.splits import scored, training
from lightning_ae.metrics.filters import gaussian_blur, mean_fill, median3
from lightning_ae.metrics.image_quality import masked_errors, mean_over_images, per_image, psnr_from_mse

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
    vr, bs = datamodule.value_range, int(cfg.batch_size)
    with_mask = isinstance(model, CorruptsWithMask)
    corrupted = [model.corrupt_with_mask(xb) if with_mask else (model.corrupt(xb), None)
                 for xb, _ in batches(x, None, bs, device)]  # drawn once: every candidate restores the same images
    inpainting = bool(corrupted) and corrupted[0][1] is not None

    def score(restore, ssim: bool = True) -> dict[str, float]:
        """psnr (of the pooled MSE), ssim and, for masks, psnr_masked of restore(corrupted, mask)."""
        means = mean_over_images(
            per_image(pred := restore(c, m), xb, vr, ssim) | (masked_errors(pred, xb, m, vr) if inpainting else {})
            for (xb, _), (c, m) in zip(batches(x, None, bs, device), corrupted))
        out = {"psnr": psnr_from_mse(means["mse"])} | ({"ssim": means["ssim"]} if ssim else {})
        if inpainting:
            out["psnr_masked"] = psnr_from_mse(means["masked_sse"] / means["masked_pixels"])
        return out

    baselines = restorers(datamodule, cfg, inpainting)
    best = max(baselines, key=lambda code: score(baselines[code], ssim=False)["psnr"])
    log.info("denoising: the classical baseline is %s", "mean fill" if best == MEAN_FILL else
             "the 3x3 median" if best == MEDIAN else f"a Gaussian blur with sigma {best:g}")
    def output(c, m):
        return model.reconstruct(c) if m is None else torch.where(m, model.reconstruct(c), c)

    scores = {"input": score(lambda c, m: c), "output": score(output),
              "filter": score(baselines[best])}
    return {f"denoise/{k}_{name}": v for name, s in scores.items() for k, v in s.items()} | {"denoise/filter": best}
