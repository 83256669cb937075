"""baseline_pca/{mse,sse,psnr,ssim,nmse,components}: PCA with as many components as the model's code has
numbers, fitted on train + val (at most `pca_max_train` images), scored like `recon/*`.

For a vector quantiser (VQ-VAE) that PCA is capped at the pixel count and exact, so it says nothing; the
rate-matched baseline does: baseline_pca_rate/{mse,sse,psnr,ssim,nmse,components,bits} is PCA with its
coefficients quantised to 8 bits, as many as fit in the bits of the model's code (positions · log2 K; MNIST's
7×7 grid of K = 512: 441 bits, 55 coefficients)."""
from __future__ import annotations

import math

from lightning_ae.evaluation.calls import call_with_labels
from lightning_ae.evaluation.capabilities import Encodes, Quantises
from lightning_ae.evaluation.splits import scored, training
from lightning_ae.metrics.image_quality import mean_over_images, per_image, pixel_variance
from lightning_ae.metrics.pca import (pca_components, pca_reconstruct, quantised_pca_reconstruct,
                                      rate_matched_components)

COEFFICIENT_BITS = 8


def applies(model, datamodule) -> bool:
    return isinstance(model, Encodes)


def scores(recon, x, value_range) -> dict[str, float]:
    """recon/*'s numbers for a reconstruction, with nmse = mse / pixel variance (as `reconstruction` has it)."""
    means = mean_over_images([per_image(recon, x, value_range)])
    variance = pixel_variance(x, value_range)
    return means | {"nmse": means["mse"] / variance if variance > 0 else float("nan")}


def code_bits(model, x, device) -> float:
    """Bits of one image's VQ code: its number of code positions times log2 of the codebook size."""
    return call_with_labels(model.code_indices, x[:1].to(device), None)[0].numel() * math.log2(int(model.num_codes))


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    vr = datamodule.value_range
    code_size = call_with_labels(model.encode, x[:1].to(device), None if y is None else y[:1].to(device))[0].numel()
    fit_x, _ = training(datamodule, cfg.pca_max_train, with_val=True)
    # PCA commutes with the affine map to [0, 1]: fitting in data space scores the same
    out = {f"baseline_pca/{k}": v for k, v in scores(pca_reconstruct(fit_x, x, code_size), x, vr).items()}
    out["baseline_pca/components"] = float(pca_components(fit_x, code_size))
    if isinstance(model, Quantises):
        bits = code_bits(model, x, device)
        k = pca_components(fit_x, rate_matched_components(bits, COEFFICIENT_BITS))
        recon = quantised_pca_reconstruct(fit_x, x, k, COEFFICIENT_BITS)
        out |= {f"baseline_pca_rate/{n}": v for n, v in scores(recon, x, vr).items()}
        out |= {"baseline_pca_rate/components": float(k), "baseline_pca_rate/bits": bits}
    return out
