"""recon/{mse,sse,psnr,ssim}: the model's reconstructions of the scored images (every model)."""
from __future__ import annotations

from lightning_ae.evaluation.calls import batches, call_with_labels
from lightning_ae.evaluation.capabilities import Reconstructs
from lightning_ae.evaluation.splits import scored
from lightning_ae.metrics.image_quality import mean_over_images, per_image


def applies(model, datamodule) -> bool:
    return isinstance(model, Reconstructs)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    vr = datamodule.value_range
    means = mean_over_images(per_image(call_with_labels(model.reconstruct, xb, yb), xb, vr)
                             for xb, yb in batches(x, y, int(cfg.batch_size), device))
    return {f"recon/{k}": v for k, v in means.items()}
