"""Each evaluation metric against a case whose answer is known in advance."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightning_ae.evaluation.parts import denoising
from lightning_ae.evaluation.parts.likelihood import likelihood_metrics
from lightning_ae.evaluation.suite import settings
from lightning_ae.metrics.image_quality import mean_over_images, per_image
from lightning_ae.metrics.pca import pca_reconstruct
from lightning_ae.metrics.representation import cluster_accuracy, kmeans_accuracy, linear_probe_accuracy


def images(n=12, c=1, h=16, w=16, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


# -- reconstruction ---------------------------------------------------------------------------------
def test_identical_images_give_infinite_psnr_and_unit_ssim():
    x = images()
    m = mean_over_images(per_image(b.clone(), b) for b in x.split(5))
    assert m["mse"] == 0 and m["sse"] == 0
    assert math.isinf(m["psnr"]) and m["psnr"] > 0
    assert m["ssim"] == pytest.approx(1.0, abs=1e-5)


def test_psnr_and_sse_match_their_definitions_in_unit_range():
    x = images(h=8, w=8)  # smaller than the 11-px SSIM window: the window shrinks
    y = (x + 0.1).clamp(0, 1)
    m = mean_over_images(per_image(p, t) for p, t in zip(y.split(5), x.split(5)))
    per_image_mse = (y - x).pow(2).flatten(1).mean(1)
    assert m["sse"] == pytest.approx(float((y - x).pow(2).flatten(1).sum(1).mean()), rel=1e-5)
    assert m["psnr"] == pytest.approx(float((10 * torch.log10(1 / per_image_mse)).mean()), rel=1e-5)
    assert 0 < m["ssim"] < 1
    # the same images stored in [-1, 1] score the same: metrics work in [0, 1] units
    m2 = mean_over_images([per_image(y * 2 - 1, x * 2 - 1, (-1.0, 1.0))])
    assert m2["sse"] == pytest.approx(m["sse"], rel=1e-5) and m2["psnr"] == pytest.approx(m["psnr"], rel=1e-5)


def test_pca_baseline_reproduces_sklearns_error():
    from sklearn.decomposition import PCA

    train, test = images(200, seed=1), images(50, seed=2)
    got = mean_over_images([per_image(pca_reconstruct(train, test, components=10), test)])
    pca = PCA(n_components=10).fit(train.flatten(1).double().numpy())
    t = test.flatten(1).double().numpy()
    want = ((t - pca.inverse_transform(pca.transform(t))) ** 2).sum(1).mean()
    assert got["sse"] == pytest.approx(want, rel=1e-4)


def test_pca_reconstructs_data_in_its_subspace_exactly():
    g = torch.Generator().manual_seed(0)
    basis, mean = torch.randn(3, 64, generator=g), torch.rand(64, generator=g)
    data = (torch.randn(120, 3, generator=g) @ basis + mean).view(120, 1, 8, 8) * 0.1
    got = mean_over_images([per_image(pca_reconstruct(data[:100], data[100:], components=3), data[100:])])
    assert got["sse"] < 1e-10


class Shift(torch.nn.Module):
    """A denoiser of the corruption x + 0.25 (digits are sixteenths in [0, 1]: exact): `undo` subtracts it."""

    def __init__(self, shift=0.25, undo=True):
        super().__init__()
        self.shift, self.undo = shift, undo

    def corrupt(self, x):
        return x + self.shift

    def reconstruct(self, c):
        return c - self.shift if self.undo else c


def test_denoising_psnr_of_input_and_output(digits):
    cfg = settings("fast")
    perfect = denoising.compute(Shift(), digits, cfg, "cpu")
    assert perfect["denoise/psnr_input"] == pytest.approx(10 * math.log10(1 / 0.25**2), rel=1e-6)  # every image
    assert math.isinf(perfect["denoise/psnr_output"]) and perfect["denoise/ssim_output"] == pytest.approx(1.0, abs=1e-5)
    identity = denoising.compute(Shift(undo=False), digits, cfg, "cpu")
    assert identity["denoise/psnr_output"] == pytest.approx(identity["denoise/psnr_input"])  # nothing done
    clean = denoising.compute(Shift(shift=0.0), digits, cfg, "cpu")
    assert math.isinf(clean["denoise/psnr_input"]) and math.isinf(clean["denoise/psnr_output"])


# -- likelihood -------------------------------------------------------------------------------------
class GaussianToy:
    """p(z) = N(0, 1), p(x|z) = N(z, 1) per pixel-free 1-d x, so p(x) = N(0, 2) exactly.
    q(z|x) = N(a·x, s²): the true posterior for a = 1/2, s² = 1/2."""

    def __init__(self, a=0.5, s2=0.5):
        self.a, self.s2 = a, s2

    def log_weights(self, x, k=1):
        x = x.view(-1).double()
        z = self.a * x + math.sqrt(self.s2) * torch.randn(k, len(x), dtype=torch.float64)
        normal = lambda v, m, var: -0.5 * ((v - m) ** 2 / var + math.log(2 * math.pi * var))  # noqa: E731
        return normal(x, z, 1.0) + normal(z, 0.0, 1.0) - normal(z, self.a * x, self.s2)

    @staticmethod
    def true_nll(x):
        return float((0.5 * (x.view(-1).double() ** 2 / 2 + math.log(2 * math.pi * 2))).mean())


def test_is_nll_equals_negative_elbo_for_one_sample():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 1, 1)
    m = likelihood_metrics(GaussianToy(a=0.2, s2=2.0).log_weights, x, k=1)
    assert m["nll_is"] == pytest.approx(m["neg_elbo"], rel=1e-12)


def test_is_nll_is_below_the_elbo_and_tends_to_the_true_nll():
    torch.manual_seed(0)
    x = torch.randn(256, 1, 1, 1)
    toy = GaussianToy(a=0.2, s2=2.0)  # a poor posterior: the ELBO is loose
    m = likelihood_metrics(toy.log_weights, x, k=2000, chunk=500, batch_size=64)
    assert m["nll_is"] <= m["neg_elbo"]
    assert m["nll_is"] == pytest.approx(GaussianToy.true_nll(x), abs=0.02)
    assert m["neg_elbo"] > GaussianToy.true_nll(x) + 0.1


def test_exact_posterior_makes_both_estimates_exact():
    x = torch.randn(32, 1, 1, 1)
    m = likelihood_metrics(GaussianToy().log_weights, x, k=5)
    assert m["neg_elbo"] == pytest.approx(GaussianToy.true_nll(x), rel=1e-6)
    assert m["nll_is"] == pytest.approx(GaussianToy.true_nll(x), rel=1e-6)


def test_vae_with_its_exact_posterior_scores_the_closed_form_likelihood():
    """A linear-Gaussian VAE, p(z) = N(0, I), p(x|z) = N(Wz + b, s²I), has log p(x) = log N(x; b, WWᵀ + s²I) and
    the posterior N(ΣWᵀ(x − b)/s², Σ), Σ = (I + WᵀW/s²)⁻¹ (diagonal for orthogonal columns of W). With the
    encoder set to that posterior every importance weight is p(x) itself, so the VAE's log-weights (Kingma &
    Welling 2014, eq. 3; Burda et al. 2015, eq. 8) must give −log p(x) for every K and both estimates: a wrong
    sign or a missing term in log p(x|z) + log p(z) − log q(z|x) moves them."""
    from lightning_ae.models.vae import VAE
    from lightning_ae.nets import MLP

    torch.manual_seed(0)
    s = 0.5
    vae = VAE(net=MLP([]), shape=[1, 2, 2], latent_dim=2, likelihood="gaussian", likelihood_std=s).eval()
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, -1.0]])  # orthogonal columns: WᵀW = diag(2, 5)
    b = torch.tensor([0.1, -0.2, 0.3, 0.0])
    cov = torch.linalg.inv(torch.eye(2) + w.T @ w / s**2)
    gain = cov @ w.T / s**2
    decoder, encoder = vae.decoder[0], vae.encoder[1]
    with torch.no_grad():
        decoder.weight.copy_(w), decoder.bias.copy_(b)
        encoder.weight.copy_(torch.cat([gain, torch.zeros(2, 4)]))
        encoder.bias.copy_(torch.cat([-gain @ b, cov.diagonal().log()]))
    x = torch.randn(40, 1, 2, 2)
    true_nll = -torch.distributions.MultivariateNormal(b, w @ w.T + s**2 * torch.eye(4)).log_prob(x.flatten(1))
    for k in (1, 7):
        m = likelihood_metrics(vae.log_weights, x, k=k, chunk=4)
        assert m["nll_is"] == pytest.approx(true_nll.mean().item(), rel=1e-5)
        assert m["neg_elbo"] == pytest.approx(true_nll.mean().item(), rel=1e-5)


def test_labels_reach_a_log_weights_that_takes_them():
    seen = {}

    def log_weights(x, k=1, y=None):
        seen["y"] = y
        return torch.zeros(k, len(x))

    likelihood_metrics(log_weights, torch.rand(6, 1, 2, 2), y=torch.arange(6), k=3)
    assert seen["y"] is not None and seen["y"].tolist() == list(range(6))


def test_only_normalised_discrete_likelihoods_are_reported_in_nats():
    from lightning_ae.metrics.likelihood import bits_per_dim, likelihood_units

    assert likelihood_units("bernoulli", binary_data=True) == "nats"
    assert likelihood_units("bernoulli", binary_data=False) == "cross_entropy"
    assert likelihood_units("logistic_mixture", binary_data=False) == "nats"  # NVAE's discretised 8-bit mixture
    assert likelihood_units("gaussian", binary_data=False) == "density"
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)  # one bit per pixel


# -- representation ---------------------------------------------------------------------------------
def test_hungarian_accuracy_of_a_permuted_labelling_is_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    perm = rng.permutation(10)
    assert cluster_accuracy(labels, perm[labels]) == 1.0
    assert cluster_accuracy(labels, perm[labels] + 100) == 1.0  # cluster ids need not be 0..k-1


def test_hungarian_accuracy_counts_the_best_one_to_one_mapping():
    labels = np.array([0, 0, 0, 1, 1, 1])
    clusters = np.array([5, 5, 5, 5, 7, 7])  # cluster 5 ↔ class 0 (3 right), 7 ↔ 1 (2 right)
    assert cluster_accuracy(labels, clusters) == pytest.approx(5 / 6)
    assert cluster_accuracy(labels, np.zeros(6)) == pytest.approx(0.5)  # one cluster can match one class


def separated(n=300, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    centres = torch.randn(k, 5, generator=g) * 20
    return centres[y] + torch.randn(n, 5, generator=g), y


def test_kmeans_and_probe_are_perfect_on_separated_classes():
    z, y = separated()
    assert kmeans_accuracy(z, y, k=3) == 1.0
    assert linear_probe_accuracy(z[:200], y[:200], z[200:], y[200:]) == 1.0


def test_probe_accuracy_is_the_share_of_test_labels_the_class_threshold_gets_right():
    """1-d codes whose sign is the class: the probe learns the threshold 0 from clean training codes, so on
    test codes with a known share of flipped labels its accuracy is exactly the unflipped share."""
    g = torch.Generator().manual_seed(1)
    magnitude = lambda n: torch.rand(n, 1, generator=g) + 0.5  # noqa: E731  |z| ≥ 0.5: far from the threshold
    z_train = torch.cat([magnitude(100), -magnitude(100)])
    y_train = torch.cat([torch.ones(100), torch.zeros(100)]).long()
    z_test = torch.cat([magnitude(20), -magnitude(20)])
    y_test = torch.cat([torch.ones(20), torch.zeros(20)]).long()
    y_test[torch.randperm(40, generator=g)[:10]] ^= 1  # 10 of 40 labels flipped
    assert linear_probe_accuracy(z_train, y_train, z_test, y_test) == pytest.approx(30 / 40)


def test_kmeans_accuracy_is_the_best_one_to_one_labelling_found_by_brute_force():
    """Three tight, far-apart blobs (K-means finds them) carrying random labels: the accuracy equals the best
    of all 3! cluster→class assignments, counted directly."""
    from itertools import permutations

    g = torch.Generator().manual_seed(2)
    cluster = torch.cat([torch.full((n,), c) for c, n in enumerate((40, 25, 15))])
    y = torch.randint(0, 3, (len(cluster),), generator=g)
    z = torch.tensor([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])[cluster] + 0.1 * torch.randn(len(cluster), 2, generator=g)
    best = max(float((torch.tensor(p)[cluster] == y).float().mean()) for p in permutations(range(3)))
    assert kmeans_accuracy(z, y, k=3) == pytest.approx(best)
