"""FID through the project's cached feature classifier (Inception weights are not available here)."""
from __future__ import annotations

import pytest
import torch

from lightning_ae.errors import UserError
from lightning_ae.metrics.fid import feature_classifier, fid_score


def test_fid_is_near_zero_for_the_data_itself_and_large_for_noise(digits, fid_cache):
    x, y = digits.tensors("test")
    train_x, _ = digits.tensors("train")

    def real_images(n, _state={"i": 0}):  # noqa: B006  (draws fresh training images each call)
        i = _state["i"]
        _state["i"] += n
        return train_x[i : i + n]

    kw = dict(datamodule=digits, value_range=(0.0, 1.0), extractor="auto", num_samples=290, cache_dir=fid_cache,
              classifier_epochs=1)
    same = fid_score(real_images, x, **kw)
    noise = fid_score(lambda n: torch.rand(n, 1, 8, 8), x, **kw)
    assert "fid/inception" not in same  # never passed off as Inception FID
    net, _ = feature_classifier(digits, fid_cache, epochs=1)  # the cached classifier the scores used
    import hashlib

    digest = hashlib.sha1()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode() + value.numpy().tobytes())
    assert same["fid/classifier_id"] == noise["fid/classifier_id"] == int(digest.hexdigest()[:12], 16)
    with torch.no_grad():
        assert same["fid/classifier_accuracy"] == pytest.approx(float((net.logits(x).argmax(1) == y).double().mean()))
    with torch.no_grad():  # the Fréchet distance of the two feature sets, written out (Heusel et al. 2017, eq. 6)
        want = frechet(net(x[:290]).double(), net(train_x[:290]).double())
    assert same["fid/classifier"] == pytest.approx(want, rel=1e-3, abs=1e-3)
    assert same["fid/classifier"] < noise["fid/classifier"] / 4


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½), the square roots by eigendecomposition."""
    def sqrt_psd(m):
        vals, vecs = torch.linalg.eigh(m)
        return vecs @ vals.clamp(min=0).sqrt().diag() @ vecs.T

    ca, cb = torch.cov(a.T), torch.cov(b.T)
    root = sqrt_psd(ca)
    return float((a.mean(0) - b.mean(0)).pow(2).sum() + ca.trace() + cb.trace() - 2 * sqrt_psd(root @ cb @ root).trace())


def test_fid_of_two_gaussians_is_their_closed_form(digits, monkeypatch):
    """With the identity as feature map and sample sets whose mean and covariance are exactly (μ1, Σ1) and
    (μ2, Σ2), FID is the Fréchet distance of the two Gaussians: ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2(Σ1^½ Σ2 Σ1^½)^½);
    for Σ1 = I it is ‖μ1 − μ2‖² + Σ_i (1 + λ_i − 2√λ_i), λ_i the eigenvalues of Σ2."""
    import lightning_ae.metrics.fid as fid

    class Identity(torch.nn.Module):
        num_features = 3

        def forward(self, x):
            return x.flatten(1).double()

    monkeypatch.setattr(fid, "feature_classifier", lambda *a, **k: (Identity(), 1.0))

    def exactly(n, mean, cov, seed):  # n points with sample mean `mean` and sample covariance `cov`
        z = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        z = z - z.mean(0)
        z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # sample covariance I
        return (z @ torch.linalg.cholesky(cov).T + mean).view(n, 1, 1, 3)

    q = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64))[0]
    lam = torch.tensor([0.25, 1.0, 4.0], dtype=torch.float64)
    mu2 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    real = exactly(600, torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64), 0)
    fake = exactly(600, mu2, q @ lam.diag() @ q.T, 1)
    got = fid.fid_score(lambda n: fake[:n], real, value_range=(-100.0, 100.0), datamodule=digits,
                        extractor="classifier", num_samples=600, batch_size=600)
    want = mu2.pow(2).sum() + (1 + lam - 2 * lam.sqrt()).sum()  # 5.25 + (0.25 + 0 + 1)
    assert got["fid/classifier"] == pytest.approx(want.item(), rel=1e-4)


def test_classifier_is_trained_once_and_cached(digits, fid_cache):
    net1, acc1 = feature_classifier(digits, fid_cache, epochs=1)
    files = list(fid_cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"
    stamp = files[0].stat().st_mtime_ns
    net2, acc2 = feature_classifier(digits, fid_cache, epochs=1)
    assert files[0].stat().st_mtime_ns == stamp and acc2 == acc1
    x = digits.tensors("test")[0][:8]
    assert torch.equal(net1(x), net2(x))


@pytest.mark.slow
def test_unreadable_cache_is_replaced(digits, tmp_path):
    feature_classifier(digits, tmp_path, epochs=1)
    path = next(tmp_path.iterdir())
    path.write_bytes(b"not a checkpoint")
    _, acc = feature_classifier(digits, tmp_path, epochs=1)
    assert acc > 0.1 and path.stat().st_size > 1000


def test_inception_without_weights_is_a_clear_error(digits, tmp_path):
    with pytest.raises(UserError, match="inception_weights"):
        fid_score(lambda n: torch.rand(n, 1, 8, 8), digits.tensors("test")[0], (0.0, 1.0), digits,
                  extractor="inception", num_samples=10, cache_dir=tmp_path)


def test_the_hint_for_unlabelled_data_names_a_key_that_exists(tmp_path):
    import re
    import types

    from omegaconf import OmegaConf

    from lightning_ae.evaluation.suite import settings

    with pytest.raises(UserError) as err:
        feature_classifier(types.SimpleNamespace(num_classes=0, name="faces"), tmp_path)
    keys = re.findall(r"evaluation\.([\w.]+)=", str(err.value))
    assert keys and all(OmegaConf.select(settings(), k) is not None for k in keys), str(err.value)
