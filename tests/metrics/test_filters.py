"""The classical restorers against scipy's filters; masked errors, PSNR and pixel variance against their formulas."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from lightning_ae.metrics.filters import gaussian_blur, mean_fill, median3
from lightning_ae.metrics.image_quality import masked_errors, pixel_variance, psnr_from_mse


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


def test_masked_errors_sum_the_masked_pixels_only():
    x = images(c=1)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[0, :, :2] = True   # image 0: an error of 0.1 on 18 masked pixels
    mask[1:, :, :, :1] = True  # images 1, 2: 8 masked pixels, one with error 0.3, the rest 0.1
    pred = x + torch.where(mask, 0.1, 0.7)  # the 0.7 outside the mask must not count
    pred[1:, :, 0, 0] += 0.2
    got = masked_errors(pred, x, mask)
    assert got["masked_pixels"].tolist() == [18, 8, 8]
    assert got["masked_sse"].tolist() == pytest.approx([18 * 0.01, 7 * 0.01 + 0.09, 7 * 0.01 + 0.09], rel=1e-5)
    same = masked_errors(pred * 2 - 1, x * 2 - 1, mask, (-1.0, 1.0))  # [-1, 1] images score in [0, 1] units
    assert same["masked_sse"].tolist() == pytest.approx(got["masked_sse"].tolist(), rel=1e-5)


def test_psnr_from_mse_is_ten_log10_of_its_inverse():
    assert psnr_from_mse(0.01) == pytest.approx(20.0)
    assert psnr_from_mse(0.0) == math.inf


def test_pixel_variance_is_the_population_variance_in_unit_range():
    x = images()
    assert pixel_variance(x) == pytest.approx(float(np.var(x.double().numpy())))
    assert pixel_variance(x * 2 - 1, (-1.0, 1.0)) == pytest.approx(float(np.var(x.double().numpy())))
