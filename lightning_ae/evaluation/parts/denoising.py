"""denoise/{psnr,ssim}_{input,output}: the corrupted input and the model's output, both against the clean
image (models with `corrupt(x)`). The corrupted input is scored as the model sees it (not clipped)."""
from __future__ import annotations

from lightning_ae.evaluation.calls import batches
from lightning_ae.evaluation.capabilities import Corrupts
from lightning_ae.evaluation.splits import scored
from lightning_ae.metrics.image_quality import mean_over_images, per_image


def applies(model, datamodule) -> bool:
    return isinstance(model, Corrupts)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, _ = scored(datamodule, cfg)
    vr = datamodule.value_range
    noisy, out = [], []
    for xb, _ in batches(x, None, int(cfg.batch_size), device):
        cb = model.corrupt(xb)
        noisy.append(per_image(cb, xb, vr))
        out.append(per_image(model.reconstruct(cb), xb, vr))
    n, o = mean_over_images(noisy), mean_over_images(out)
    return {"denoise/psnr_input": n["psnr"], "denoise/psnr_output": o["psnr"],
            "denoise/ssim_input": n["ssim"], "denoise/ssim_output": o["ssim"]}
