"""The parts the reproduction rows read (issues #11, #12), each against an independent computation:
the DAE's classical baselines, VQ-VAE's normalised MSE, CVAE's conditional accuracy, and the probe on
ALAE's E(x) and VAE-GAN's μ."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from scipy import ndimage
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from lightning_ae.evaluation.parts import conditional, denoising, reconstruction, representation
from lightning_ae.evaluation.suite import settings
from lightning_ae.metrics.fid import feature_classifier
from lightning_ae.metrics import filters
from lightning_ae.metrics.filters import gaussian_blur, median3
from lightning_ae.metrics.representation import kmeans_accuracy, linear_probe_accuracy


def scored(dm, cfg):
    return dm.tensors("test")[0][: int(cfg.max_images)].double()


def psnr(pred, x):
    """10·log10(1 / MSE over all pixels of all images), for [0, 1] images (numpy)."""
    return float(10 * np.log10(1 / np.mean((pred - x) ** 2)))


# -- denoising: the classical filter baseline ---------------------------------------------------------------
class Shift(nn.Module):
    """Corrupts by adding 0.25 and does not denoise."""

    def corrupt(self, x):
        return x + 0.25

    def reconstruct(self, c):
        return c


def skimage_each(restore, images, masks=None):
    """scikit-image's restorer applied image by image to [B, 1, H, W] numpy images, as its gallery calls it."""
    return np.stack([restore(img[0], None if masks is None else masks[i, 0])[None] for i, img in enumerate(images)])


def test_noise_baseline_is_the_best_of_a_median_the_blurs_and_scikit_images_denoisers(digits):
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet, estimate_sigma

    cfg = settings("fast", {"denoising": {"blur_sigmas": [0.5, 1.0], "tv_weights": [0.1, 0.3]}})
    got = denoising.compute(Shift(), digits, cfg, "cpu")
    x = scored(digits, cfg).numpy()
    c = np.clip(x + 0.25, 0, 1)
    blur = lambda s, r: ndimage.gaussian_filter(c, sigma=(0, 0, s, s), mode="mirror", radius=(0, 0, r, r))  # noqa: E731

    def nl_means(img, _):  # h = 0.8·σ̂, 5×5 patches within 6 pixels (scikit-image's denoising gallery)
        sigma = estimate_sigma(img)
        return denoise_nl_means(img, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)

    candidates = {(0.0, 0.0): ndimage.median_filter(c, size=(1, 1, 3, 3), mode="mirror")} | \
        {(s, s): blur(s, math.ceil(3 * s)) for s in (0.5, 1.0)} | \
        {(-2.0, 0.0): skimage_each(nl_means, c),
         (-3.0, 0.0): skimage_each(lambda i, _: denoise_wavelet(i, method="BayesShrink", mode="soft",
                                                                rescale_sigma=True), c)} | \
        {(-4.0, w): skimage_each(lambda i, _, w=w: denoise_tv_chambolle(i, weight=w), c) for w in (0.1, 0.3)}
    scores = {key: psnr(f, x) for key, f in candidates.items()}  # 10·log10(1 / MSE of the whole set)
    best = max(scores, key=scores.get)
    assert got["denoise/filter"] == best[0]
    assert got["denoise/psnr_filter"] == pytest.approx(scores[best], rel=1e-4)
    for name, keys in {"median": [(0.0, 0.0)], "blur": [(0.5, 0.5), (1.0, 1.0)], "nl_means": [(-2.0, 0.0)],
                       "wavelet": [(-3.0, 0.0)], "tv": [(-4.0, 0.1), (-4.0, 0.3)]}.items():
        assert got[f"denoise/psnr_{name}"] == pytest.approx(max(scores[k] for k in keys), rel=1e-4), name
    assert got["denoise/tv_weight"] == max([(-4.0, 0.1), (-4.0, 0.3)], key=scores.get)[1]
    ssim = structural_similarity_index_measure(torch.from_numpy(candidates[best]).float(), torch.from_numpy(x).float(),
                                               data_range=1.0, kernel_size=7)  # the largest odd window in 8 px
    assert got["denoise/ssim_filter"] == pytest.approx(float(ssim), rel=1e-4)
    assert got["denoise/psnr_input"] == pytest.approx(10 * math.log10(1 / 0.25**2))  # unclipped, as the model sees it
    assert not any("masked" in k for k in got)


BOX = (slice(None), slice(None), slice(2, 6), slice(2, 6))


class Inpainter(nn.Module):
    """Hides the same 4×4 centre box of every image (filled with 0) and outputs its input halved plus 0.25."""

    def corrupt_with_mask(self, x):
        mask = torch.zeros(len(x), 1, *x.shape[2:], dtype=torch.bool)
        mask[BOX] = True
        return x.masked_fill(mask, 0.0), mask

    def corrupt(self, x):
        return self.corrupt_with_mask(x)[0]

    def reconstruct(self, c):
        return c / 2 + 0.25


def test_box_baseline_fills_the_training_mean_and_masked_psnr_scores_the_box_only(digits):
    cfg = settings("fast")
    got = denoising.compute(Inpainter(), digits, cfg, "cpu")
    x = scored(digits, cfg).numpy()
    mean = digits.tensors("train")[0].double().mean(0).numpy()
    hidden = x.copy()
    hidden[BOX] = 0.0
    filled = hidden.copy()
    filled[BOX] = np.broadcast_to(mean[BOX[1:]], filled[BOX].shape)
    box = lambda a: a[BOX]  # noqa: E731
    from skimage.restoration import inpaint_biharmonic

    box_mask = np.zeros(hidden.shape, dtype=bool)
    box_mask[BOX] = True
    biharmonic = skimage_each(inpaint_biharmonic, hidden, box_mask)
    assert got["denoise/psnr_mean_fill"] == pytest.approx(psnr(filled, x), rel=1e-4)
    assert got["denoise/psnr_biharmonic"] == pytest.approx(psnr(biharmonic, x), rel=1e-4)
    best = filled if psnr(filled, x) > psnr(biharmonic, x) else biharmonic
    assert got["denoise/filter"] == (-1.0 if best is filled else -5.0)
    assert got["denoise/psnr_filter"] == pytest.approx(psnr(best, x), rel=1e-4)
    assert got["denoise/psnr_masked_filter"] == pytest.approx(psnr(box(best), box(x)), rel=1e-4)
    assert got["denoise/psnr_masked_input"] == pytest.approx(psnr(box(hidden), box(x)), rel=1e-4)
    pasted = hidden.copy()  # the output: the model's prediction in the box, the visible pixels kept
    pasted[BOX] = hidden[BOX] / 2 + 0.25
    assert got["denoise/psnr_masked_output"] == pytest.approx(psnr(box(pasted), box(x)), rel=1e-4)
    assert got["denoise/psnr_output"] == pytest.approx(psnr(pasted, x), rel=1e-4)


def test_the_dae_reports_the_mask_it_trains_on(make_cfg, digits):
    dae = instantiate(make_cfg("dae", "digits", ["model.noise=mask"]).model)
    x = digits.tensors("test")[0][:16]
    torch.manual_seed(1)
    c, mask = dae.corrupt_with_mask(x)
    torch.manual_seed(1)
    assert torch.equal(dae.corrupt(x), c) and torch.equal(c, x.masked_fill(mask, 0.0))  # the same draws
    assert mask.any() and not mask.all()
    assert denoising.compute(dae, digits, settings("fast"), "cpu")["denoise/filter"] in (-1.0, -5.0)  # mask fills
    noisy = instantiate(make_cfg("dae", "digits", ["model.noise=gaussian"]).model)
    assert noisy.corrupt_with_mask(x)[1] is None
    cfg = settings("fast")  # one batch of max_images, so the same seed draws the same noise here
    torch.manual_seed(2)
    chosen = denoising.compute(noisy, digits, cfg, "cpu")["denoise/filter"]
    torch.manual_seed(2)
    clean = digits.tensors("test")[0][: int(cfg.max_images)]
    clipped = noisy.corrupt(clean).clamp(0.0, 1.0)
    candidates = {0.0: median3(clipped), -2.0: filters.nl_means(clipped), -3.0: filters.wavelet(clipped),
                  -4.0: filters.total_variation(clipped, 0.1)} | {float(s): gaussian_blur(clipped, float(s))
                                                                   for s in cfg.denoising.blur_sigmas}
    assert chosen == max(candidates, key=lambda k: psnr(candidates[k].double().numpy(), clean.double().numpy()))


# -- reconstruction: normalised MSE -------------------------------------------------------------------------
class Constant(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def reconstruct(self, x):
        return torch.full_like(x, self.value)


def test_nmse_is_one_for_the_mean_pixel_and_mse_over_the_pixel_variance_otherwise(digits):
    cfg = settings("fast")
    x = scored(digits, cfg)
    mean, var = float(x.mean()), float(x.var(unbiased=False))
    assert reconstruction.compute(Constant(mean), digits, cfg, "cpu")["recon/nmse"] == pytest.approx(1.0, rel=1e-5)
    got = reconstruction.compute(Constant(0.0), digits, cfg, "cpu")
    assert got["recon/nmse"] == pytest.approx(float((x**2).mean()) / var, rel=1e-5)
    assert got["recon/nmse"] == pytest.approx(got["recon/mse"] / var, rel=1e-9)


# -- conditional samples (CVAE) -----------------------------------------------------------------------------
class ClassSampler(nn.Module):
    """`sample(n, y)` returns test images of class (y + offset) mod 10: offset 0 obeys, 1 never does."""

    can_sample = True

    def __init__(self, digits, offset=0):
        super().__init__()
        x, y = digits.tensors("test")
        self.pool, self.offset = [x[y == c] for c in range(10)], offset

    def sample(self, n, y=None):
        want = (y.cpu() + self.offset) % 10
        return torch.stack([self.pool[int(c)][i % len(self.pool[int(c)])] for i, c in enumerate(want)])


@pytest.mark.parametrize("offset", [0, 1])
def test_conditional_accuracy_is_the_classifiers_agreement_with_the_asked_class(digits, fid_cache, offset):
    cfg = settings("fast", {"cache_dir": str(fid_cache)})
    model = ClassSampler(digits, offset)
    got = conditional.compute(model, digits, cfg, "cpu")
    net, _ = feature_classifier(digits, fid_cache, int(cfg.fid.classifier_epochs))
    asked = torch.arange(10).repeat_interleave(int(cfg.conditional.per_class))
    right = (net.logits(model.sample(len(asked), asked)).argmax(1) == asked).numpy()
    per_class = right.reshape(10, -1).mean(1)
    assert got["cond/accuracy"] == pytest.approx(right.mean())
    assert got["cond/min_class_accuracy"] == pytest.approx(per_class.min())
    tx, ty = digits.tensors("test")
    assert got["cond/classifier_test_acc"] == pytest.approx(float((net.logits(tx).argmax(1) == ty).double().mean()))
    if offset:
        assert got["cond/accuracy"] < got["cond/classifier_test_acc"] / 2  # wrong classes are caught


def test_conditional_applies_to_samplers_that_take_a_label(make_cfg, digits):
    assert conditional.applies(instantiate(make_cfg("cvae", "digits").model), digits)
    assert not conditional.applies(instantiate(make_cfg("vae", "digits").model), digits)


# -- the probe on adversarial models' codes (#12) -----------------------------------------------------------
@pytest.mark.parametrize("variant, codes", [
    ("alae", lambda m, x: m.encoder(x)),                      # ALAE: E's w
    ("vaegan", lambda m, x: m.encoder(x).chunk(2, dim=1)[0]),  # VAE-GAN: the posterior mean μ
])
def test_the_probe_reads_the_adversarial_models_encoder_codes(make_cfg, digits, variant, codes):
    torch.manual_seed(0)
    model = instantiate(make_cfg(variant, "digits").model).eval()
    cfg = settings("fast")
    assert representation.applies(model, digits)
    got = representation.compute(model, digits, cfg, "cpu")
    x, y = (t[: int(cfg.max_images)] for t in digits.tensors("test"))
    tx, ty = (t[: int(cfg.probe.max_train)] for t in digits.tensors("train"))
    with torch.no_grad():
        z, z_train = codes(model, x), codes(model, tx)
    p = cfg.probe
    assert got["probe/linear_acc"] == linear_probe_accuracy(z_train, ty, z, y, int(p.max_iter), int(cfg.seed))
    assert got["probe/kmeans_acc"] == kmeans_accuracy(z, y, 10, int(cfg.seed), int(p.kmeans_init))


def test_the_pixel_probe_is_the_linear_probe_on_the_raw_images(digits):
    cfg = settings("fast", {"probe": {"pixels": True}})

    class Codes(nn.Module):
        def encode(self, x):
            return x.flatten(1)[:, :5]

    got = representation.compute(Codes(), digits, cfg, "cpu")
    x, y = digits.tensors("test")[0][:64], digits.tensors("test")[1][:64]
    px, py = digits.tensors("train")[0][:128], digits.tensors("train")[1][:128]
    assert got["probe/pixel_linear_acc"] == pytest.approx(
        linear_probe_accuracy(px.flatten(1), py, x.flatten(1), y, int(cfg.probe.max_iter), 0))
    assert got["probe/linear_acc"] == pytest.approx(
        linear_probe_accuracy(px.flatten(1)[:, :5], py, x.flatten(1)[:, :5], y, int(cfg.probe.max_iter), 0))
    assert "probe/pixel_linear_acc" not in representation.compute(Codes(), digits, settings("fast"), "cpu")
