"""baseline_pca/{mse,sse,psnr,ssim,components}: PCA with as many components as the model's code has
numbers, fitted on train + val (at most `pca_max_train` images), scored like `recon/*`."""
from __future__ import annotations

from lightning_ae.evaluation.calls import call_with_labels
from lightning_ae.evaluation.capabilities import Encodes
from lightning_ae.evaluation.splits import scored, training
from lightning_ae.metrics.image_quality import mean_over_images, per_image
from lightning_ae.metrics.pca import pca_components, pca_reconstruct


def applies(model, datamodule) -> bool:
    return isinstance(model, Encodes)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    code_size = call_with_labels(model.encode, x[:1].to(device), None if y is None else y[:1].to(device))[0].numel()
    fit_x, _ = training(datamodule, cfg.pca_max_train, with_val=True)
    # PCA commutes with the affine map to [0, 1]: fitting in data space scores the same
    means = mean_over_images([per_image(pca_reconstruct(fit_x, x, code_size), x, datamodule.value_range)])
    return {f"baseline_pca/{k}": v for k, v in means.items()} | \
        {"baseline_pca/components": float(pca_components(fit_x, code_size))}
