"""Classical restorers of corrupted images: the baselines a denoising autoencoder's output must beat
(issue #11's DAE row, after Vincent et al. 2008). Pure torch, batched over [B, C, H, W] images.

- Gaussian blur with standard deviation σ (torchvision's separable kernel, 2·⌈3σ⌉ + 1 wide, reflect padding);
- 3×3 median filter (reflect padding): the classical remedy for salt-and-pepper noise;
- mean fill: hidden (masked) pixels replaced by the per-pixel mean of the training images (inpainting);
- scikit-image's modern restorers, image by image on the CPU, on [0, 1] images: non-local means (Buades et al.
  2005), total-variation denoising (Chambolle 2004), wavelet shrinkage (BayesShrink, Chang et al. 2000) and
  biharmonic inpainting (Damelin & Hoang 2018). Their parameters are the ones scikit-image documents in its
  denoising gallery: the noise σ estimated from each image (`estimate_sigma`), non-local means with h = 0.8·σ̂
  and 5×5 patches searched within 6 pixels, wavelet shrinkage with `rescale_sigma`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur as torchvision_blur


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x blurred by a Gaussian of std `sigma` pixels; the kernel is cut to fit small images."""
    side = min(x.shape[-2:])
    size = min(2 * math.ceil(3 * sigma) + 1, 2 * side - 1)  # odd, and reflect padding stays inside the image
    return torchvision_blur(x.float(), [size, size], [sigma, sigma])


def median3(x: torch.Tensor) -> torch.Tensor:
    """The median of each pixel's 3×3 neighbourhood, channel by channel."""
    b, c, h, w = x.shape
    windows = F.unfold(F.pad(x.float(), (1, 1, 1, 1), mode="reflect"), 3)  # [B, C·9, H·W]
    return windows.view(b, c, 9, h * w).median(2).values.view(b, c, h, w)


def mean_fill(x: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """x with its masked pixels (mask True, broadcast over channels) set to `mean` [C, H, W]."""
    return torch.where(mask, mean.to(x), x)


def _per_image(restore, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Apply a scikit-image restorer (H×W or H×W×C float image in [0, 1] → same) to each image of x [B, C, H, W]."""
    import numpy as np

    imgs = x.detach().float().cpu().numpy()
    masks = None if mask is None else mask.expand_as(x).cpu().numpy()  # one mask for all channels: the first
    out = np.empty_like(imgs)
    for i, img in enumerate(imgs):
        hwc = np.moveaxis(img, 0, -1)
        hw_mask = None if masks is None else np.array(masks[i, 0], dtype=bool)  # writable, contiguous
        restored = restore(hwc[..., 0] if img.shape[0] == 1 else hwc, hw_mask)
        out[i] = np.moveaxis(restored.reshape(hwc.shape), -1, 0)
    return torch.from_numpy(out).to(x.device)


def _channel_axis(img) -> int | None:
    return -1 if img.ndim == 3 else None


def nl_means(x: torch.Tensor) -> torch.Tensor:
    """Non-local means, h = 0.8·σ̂ (σ̂ = `estimate_sigma` of each image), 5×5 patches, search distance 6."""
    import numpy as np
    from skimage.restoration import denoise_nl_means, estimate_sigma

    def one(img, _):
        axis = _channel_axis(img)
        sigma = float(np.mean(estimate_sigma(img, channel_axis=axis)))
        return denoise_nl_means(img, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True,
                                channel_axis=axis)

    return _per_image(one, x)


def total_variation(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Chambolle's total-variation denoising with the given `weight` (larger: smoother)."""
    from skimage.restoration import denoise_tv_chambolle

    return _per_image(lambda img, _: denoise_tv_chambolle(img, weight=weight, channel_axis=_channel_axis(img)), x)


def wavelet(x: torch.Tensor) -> torch.Tensor:
    """Wavelet shrinkage: BayesShrink, soft thresholds, σ estimated per image, `rescale_sigma=True`."""
    from skimage.restoration import denoise_wavelet

    return _per_image(lambda img, _: denoise_wavelet(img, method="BayesShrink", mode="soft", rescale_sigma=True,
                                                     channel_axis=_channel_axis(img)), x)


def biharmonic(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The hidden pixels (mask True) filled by biharmonic inpainting from the visible ones."""
    from skimage.restoration import inpaint_biharmonic

    return _per_image(lambda img, m: inpaint_biharmonic(img, m, channel_axis=_channel_axis(img)), x, mask)
