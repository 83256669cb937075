"""denoise/*: a denoising model against the corrupted input and a classical filter (Vincent et al. 2008; models
with `corrupt(x)`), all scored against the clean image on the same corrupted test images:

- {psnr,ssim}_input: the corrupted input as the model sees it (not clipped);
- {psnr,ssim}_output: the model's reconstruction of it; for inpainting masks, the model's prediction of the
  hidden pixels pasted into the visible ones (as Pathak et al. 2016 do, and as the mean fill does);
- {psnr,ssim}_filter: the best classical restorer by PSNR (`lightning_ae.metrics.filters`), and `filter`, which
  one. For noise, on the input clipped to the data range: a 3×3 median (filter = 0), a Gaussian blur (filter =
  its σ, from `denoising.blur_sigmas`), and scikit-image's non-local means (-2), wavelet shrinkage (-3) and
  total variation (-4, its weight from `denoising.tv_weights` in `denoise/tv_weight`). For inpainting masks
  (models with `corrupt_with_mask`, e.g. DAE with noise=mask): the per-pixel mean of the training images in the
  hidden pixels (-1) and scikit-image's biharmonic inpainting (-5);
- psnr_{median,blur,nl_means,wavelet,tv} (noise) and psnr_{mean_fill,biharmonic} (masks): each baseline's own
  PSNR (a blur or TV at its best parameter), so a row shows every baseline, not only the winner;
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
from lightning_ae.metrics import filters
from lightning_ae.metrics.image_quality import masked_errors, mean_over_images, per_image, psnr_from_mse

log = logging.getLogger("lightning_ae")

MEDIAN, MEAN_FILL, NL_MEANS, WAVELET, TV, BIHARMONIC = 0.0, -1.0, -2.0, -3.0, -4.0, -5.0  # `denoise/filter` codes
NAMES = {MEDIAN: "median", MEAN_FILL: "mean_fill", NL_MEANS: "nl_means", WAVELET: "wavelet", TV: "tv",
         BIHARMONIC: "biharmonic"}  # a code > 0 is a blur's σ


def applies(model, datamodule) -> bool:
    return isinstance(model, Corrupts)


def restorers(datamodule, cfg, inpainting: bool) -> dict:
    """{(filter code, parameter): restore(corrupted, mask)}: the classical baselines of this kind of corruption;
    scikit-image's restorers see the images in [0, 1]."""
    lo, hi = (float(v) for v in datamodule.value_range)
    unit = lambda f: lambda c, *m: f((c - lo) / (hi - lo), *m) * (hi - lo) + lo  # noqa: E731
    if inpainting:
        mean = training(datamodule)[0].float().mean(0)
        return {(MEAN_FILL, 0.0): lambda c, mask: filters.mean_fill(c, mask, mean),
                (BIHARMONIC, 0.0): lambda c, mask: unit(filters.biharmonic)(c.clamp(lo, hi), mask)}
    clipped = lambda f: lambda c, mask: f(c.clamp(lo, hi))  # noqa: E731
    return ({(MEDIAN, 0.0): clipped(filters.median3),
             (NL_MEANS, 0.0): clipped(unit(filters.nl_means)), (WAVELET, 0.0): clipped(unit(filters.wavelet))}
            | {(float(s), float(s)): clipped(partial(filters.gaussian_blur, sigma=float(s)))
               for s in cfg.denoising.blur_sigmas}
            | {(TV, float(w)): clipped(unit(partial(filters.total_variation, weight=float(w))))
               for w in cfg.denoising.tv_weights})


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

    tried = {key: score(restore) for key, restore in restorers(datamodule, cfg, inpainting).items()}
    each: dict[str, tuple] = {}  # a baseline's name -> (its best PSNR, its key)
    for (code, param), s in tried.items():
        name = NAMES.get(code, "blur")
        if name not in each or s["psnr"] > each[name][0]:
            each[name] = (s["psnr"], (code, param))
    best = max(tried, key=lambda key: tried[key]["psnr"])
    log.info("denoising: the best classical baseline is %s (%g)", NAMES.get(best[0], "blur"), best[1])

    def output(c, m):
        return model.reconstruct(c) if m is None else torch.where(m, model.reconstruct(c), c)

    scores = {"input": score(lambda c, m: c), "output": score(output), "filter": tried[best]}
    out = {f"denoise/{k}_{name}": v for name, s in scores.items() for k, v in s.items()} | {"denoise/filter": best[0]}
    out |= {f"denoise/psnr_{name}": psnr for name, (psnr, _) in each.items()}
    if "tv" in each:
        out["denoise/tv_weight"] = each["tv"][1][1]
    return out
