"""The classical restorers against scipy's filters, and the masked PSNR / pixel variance against their formulas."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from lightning_ae.metrics.filters import gaussian_blur, mean_fill, median3
from lightning_ae.metrics.image_quality import masked_psnr, pixel_variance


def images(n=3, c=2, h=8, w=9, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_median3_is_scipys_median_filter_with_mirrored_borders():
    x = images()
    want = ndimage.median_filter(x.numpy(), size=(1, 1, 3, 3), mode="mirror")  # torch "reflect" = scipy "mirror"
    assert np.allclose(median3(x).numpy(), want)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_gaussian_blur_is_scipys_gaussian_filter_cut_at_three_sigma(sigma):
    x = images()
    radius = min(math.ceil(3 * sigma), 8 - 1)  # the kernel is cut to fit the 8-px side
    want = ndimage.gaussian_filter(x.double().numpy(), sigma=(0, 0, sigma, sigma), mode="mirror",
                                   radius=(0, 0, radius, radius))
    assert np.allclose(gaussian_blur(x, sigma).numpy(), want, atol=1e-5)


def test_mean_fill_replaces_only_masked_pixels_in_every_channel():
    x, mean = images(), torch.full((2, 8, 9), 0.5)
    mask = torch.zeros(3, 1, 8, 9, dtype=torch.bool)
    mask[:, :, 2:5, 3:6] = True
    out = mean_fill(x, mask, mean)
    assert torch.equal(out[:, :, 2:5, 3:6], torch.full((3, 2, 3, 3), 0.5))
    assert torch.equal(out.masked_fill(mask, 0), x.masked_fill(mask, 0))


def test_masked_psnr_scores_the_masked_pixels_only():
    x = images(c=1)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[0, :, :2] = True   # image 0: an error of 0.1 on 18 masked pixels -> 20 dB
    mask[1:, :, :, :1] = True
    pred = (x + torch.where(mask, 0.1, 0.7)).clone()  # the 0.7 outside the mask must not count
    pred[1:, :, 0, 0] += 0.2  # images 1, 2: one of their 8 masked pixels has error 0.3, the rest 0.1
    got = masked_psnr(pred, x, mask)
    mse_12 = (7 * 0.1**2 + 0.3**2) / 8
    assert got.tolist() == pytest.approx([20.0, 10 * math.log10(1 / mse_12), 10 * math.log10(1 / mse_12)], rel=1e-5)
    # the same images in [-1, 1] score the same
    assert masked_psnr(pred * 2 - 1, x * 2 - 1, mask, (-1.0, 1.0)).tolist() == pytest.approx(got.tolist(), rel=1e-5)


def test_pixel_variance_is_the_population_variance_in_unit_range():
    x = images()
    assert pixel_variance(x) == pytest.approx(float(np.var(x.double().numpy())))
    assert pixel_variance(x * 2 - 1, (-1.0, 1.0)) == pytest.approx(float(np.var(x.double().numpy())))
