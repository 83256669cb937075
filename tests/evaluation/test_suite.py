"""The suite runs the registered parts that apply to a model (declared abilities), with small fake models."""
from __future__ import annotations

import math
import sys
import types

import pytest
import torch
from torch import nn

from datamodules import DigitsDataModule, LinesDataModule
from lightning_ae.errors import UserError
from lightning_ae.evaluation.suite import after_training, evaluate, settings


class FakeAE(nn.Module):
    """The interface every model has: encode / decode / reconstruct (a linear 8-d code)."""

    def __init__(self, shape=(1, 8, 8), latent=8):
        super().__init__()
        d = shape[0] * shape[1] * shape[2]
        torch.manual_seed(0)
        self.shape, self.enc, self.dec = shape, nn.Linear(d, latent), nn.Linear(latent, d)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, z):
        return self.dec(z).view(-1, *self.shape)

    def reconstruct(self, x):
        return self.decode(self.encode(x))


class WithLikelihood(FakeAE):
    likelihood = types.SimpleNamespace(kind="gaussian")  # a density: nats, no bits/dim

    def log_weights(self, x, k=1):
        return -torch.rand(k, len(x)) - 10.0


class WithSamples(FakeAE):
    can_sample = True

    def sample(self, n):
        return torch.rand(n, *self.shape)


class WithCorruption(FakeAE):
    def corrupt(self, x):
        return x + 0.3 * torch.randn_like(x)


class WithBits(FakeAE):
    def hash_codes(self, x):
        return self.encode(x) > 0


class WithCodes(FakeAE):
    num_codes = 16

    def code_indices(self, x):
        return (x.flatten(1)[:, :4] * 15).round().long()  # 4 codes per image from 16


class Conditional(FakeAE):
    def encode(self, x, y=None):
        assert y is not None, "the suite passes labels to methods that take them"
        return super().encode(x) + y[:, None].float()

    def reconstruct(self, x, y=None):
        return self.decode(self.encode(x, y))


def fast(**overrides):
    return settings("fast", overrides)


def parts(metrics):
    return {k.split("/")[0] for k in metrics}


def test_every_model_gets_reconstruction_representation_and_pca(digits):
    m = evaluate(FakeAE(), digits, fast(), device="cpu")
    assert parts(m) == {"recon", "baseline_pca", "probe"}
    assert m["baseline_pca/components"] == 8  # as many components as the code has numbers
    assert 0 <= m["probe/linear_acc"] <= 1 and 0 <= m["probe/kmeans_acc"] <= 1


@pytest.mark.parametrize("model, part", [
    (WithLikelihood(), "likelihood"), (WithCorruption(), "denoise"), (WithBits(), "hash"), (WithCodes(), "vq"),
])
def test_declared_abilities_switch_their_parts_on(model, part, digits):
    m = evaluate(model, digits, fast(), device="cpu")
    assert part in parts(m)
    if part == "likelihood":  # a Gaussian density: nats, never bits/dim
        assert 10 <= m["likelihood/nll_is"] <= m["likelihood/neg_elbo"] <= 11
        assert not any(k.endswith(("_bpd", "_ce")) for k in m)
    if part == "hash":
        assert m["hash/bits"] == 8 and {"baseline_pca_sign", "baseline_lsh"} <= parts(m)
        assert 0 <= m["hash/precision_at_k"] <= 1
    if part == "vq":
        assert 1 <= m["vq/perplexity"] <= 16 and 0 <= m["vq/dead_share"] < 1


class SeededSamples(WithSamples):
    def __init__(self, seed: int = 0):
        super().__init__()
        self.draws = torch.Generator().manual_seed(seed)

    def sample(self, n):
        return torch.rand(n, *self.shape, generator=self.draws)


def test_samples_get_a_classifier_fid_labelled_as_such(digits, fid_cache):
    """The suite scores fid.num_samples samples against the scored test images in the cached classifier's
    features: the number is the Fréchet distance of exactly those two feature sets."""
    from lightning_ae.metrics.fid import feature_classifier
    from tests.evaluation.test_fid import frechet

    m = evaluate(SeededSamples(), digits, fast(parts={"fid": True}, cache_dir=str(fid_cache)), device="cpu")
    assert "fid/classifier" in m and "fid/inception" not in m and m["fid/samples"] == 256
    net, _ = feature_classifier(digits, fid_cache, epochs=1)
    with torch.no_grad():
        samples = SeededSamples().sample(256)
        want = frechet(net(digits.tensors("test")[0][:64]).double(), net(samples).double())  # fast: 64 images
    assert m["fid/classifier"] == pytest.approx(want, rel=1e-3)


def test_parts_can_be_switched_off(digits):
    m = evaluate(WithLikelihood(), digits, fast(parts={"likelihood": False, "representation": False}), device="cpu")
    assert parts(m) == {"recon", "baseline_pca"}


def test_labels_reach_methods_that_take_them(digits):
    m = evaluate(Conditional(), digits, fast(), device="cpu")
    assert "recon/mse" in m and "probe/linear_acc" in m


def test_lines_data_gets_the_interpolation_metrics(monkeypatch):
    calls = {}

    def interpolation_paths(model, x_test, pairs=256, steps=16):
        calls["paths"] = (pairs, steps)
        return torch.zeros(pairs, steps, 1, 32, 32)

    fake = types.SimpleNamespace(interpolation_paths=interpolation_paths,
                                 lines_metrics=lambda paths: {"mean_distance": 0.0, "smoothness": 0.0},
                                 interpolation_pairs=lambda x, pairs: (x[:pairs], x[pairs:2 * pairs]),
                                 end_angle_errors=lambda paths, a, b: torch.full((len(paths),), math.pi / 2))
    monkeypatch.setitem(sys.modules, "lightning_ae.metrics.lines", fake)
    lines = LinesDataModule(train_size=64, test_size=32, channels=1, height=32, width=32, num_classes=16,
                            value_range=(-1.0, 1.0), val_size=16)
    m = evaluate(FakeAE(shape=(1, 32, 32)), lines, fast(), device="cpu")
    assert calls["paths"] == (16, 16) and m["lines/mean_distance"] == 0.0 and "lines/smoothness" in m
    assert m["lines/end_angle_error_deg"] == pytest.approx(90.0)  # the median error (float32 π/2), in degrees


def test_a_new_part_is_one_module_and_one_config_line_run_in_config_order(monkeypatch, digits, caplog):
    toy = types.SimpleNamespace(applies=lambda model, dm: True,
                                compute=lambda model, dm, cfg, device: {"toy/images": float(cfg.max_images)})
    monkeypatch.setitem(sys.modules, "lightning_ae.evaluation.parts.toy", toy)
    chosen = {"pca_baseline": False, "representation": False, "toy": True}  # a new key comes last
    with caplog.at_level("INFO", logger="lightning_ae"):
        m = evaluate(FakeAE(), digits, settings("fast", {"parts": chosen}), device="cpu")
    assert list(m)[-1] == "toy/images" and m["toy/images"] == 64 and parts(m) == {"toy", "recon"}
    timed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("evaluation: ")]
    assert [t.split()[1] for t in timed] == ["reconstruction", "toy"]  # one progress line per part, with seconds
    assert all(t.endswith(" s") for t in timed)


def test_an_unknown_part_is_one_line_before_any_part_runs(digits):
    with pytest.raises(UserError, match="evaluation.parts.recon: no such evaluation part; known parts: .*codebook"):
        evaluate(FakeAE(), digits, settings("fast", {"parts": {"recon": True}}), device="cpu")


def test_a_short_run_skips_the_costly_parts_and_says_how_to_run_them(caplog):
    cfg = settings()
    with caplog.at_level("INFO", logger="lightning_ae"):
        short = after_training(cfg, epochs=1, ckpt_path="/runs/x/last.ckpt")
    skipped = {p for p, on in short.parts.items() if not on}
    assert skipped == {"fid", "marginal_fid", "conditional", "likelihood", "pca_baseline"}
    assert "python -m lightning_ae.eval ckpt_path=/runs/x/last.ckpt" in caplog.text
    assert after_training(cfg, epochs=int(cfg.after_training.full_from_epochs), ckpt_path="") is cfg  # full suite


def test_unlabelled_data_skips_label_based_parts(digits):
    class Unlabelled(DigitsDataModule):
        def load(self):
            data = super().load()
            return {k: (x, None) for k, (x, _) in data.items()}

    dm = Unlabelled(channels=1, height=8, width=8, num_classes=0, val_size=150, test_size=297)
    m = evaluate(WithSamples(), dm, fast(parts={"fid": True}), device="cpu")
    assert parts(m) == {"recon", "baseline_pca"}


def test_a_quantiser_gets_pca_at_its_own_bit_rate(digits):
    """WithCodes: 4 positions of log2 16 = 4 bits, 16 bits an image, so 2 PCA coefficients of 8 bits each. The
    baseline is PCA fitted on train + val, each coefficient rounded to the nearest of 256 evenly spaced levels
    between its training minimum and maximum, scored as MSE / pixel variance (the VQ-VAE row's measure)."""
    from sklearn.decomposition import PCA

    cfg = fast(parts={"representation": False})
    m = evaluate(WithCodes(), digits, cfg, device="cpu")
    assert m["baseline_pca_rate/bits"] == 16 and m["baseline_pca_rate/components"] == 2
    fit = torch.cat([digits.tensors("train")[0], digits.tensors("val")[0]])[: cfg.pca_max_train].flatten(1).double()
    x = digits.tensors("test")[0][: cfg.max_images].flatten(1).double()
    pca = PCA(2, svd_solver="full").fit(fit.numpy())
    train_c, c = torch.from_numpy(pca.transform(fit.numpy())), torch.from_numpy(pca.transform(x.numpy()))
    levels = torch.stack([torch.linspace(lo, hi, 256, dtype=torch.float64)
                          for lo, hi in zip(train_c.min(0).values, train_c.max(0).values)])  # [2, 256]
    nearest = (c[:, :, None] - levels[None]).abs().argmin(2)
    quantised = levels.gather(1, nearest.T).T
    recon = torch.from_numpy(pca.inverse_transform(quantised.numpy()))
    variance = x.var(unbiased=False)  # digits lie in [0, 1]
    assert m["baseline_pca_rate/nmse"] == pytest.approx(float((recon - x).pow(2).mean() / variance), rel=1e-4)
    eight = PCA(8, svd_solver="full").fit(fit.numpy())
    exact = torch.from_numpy(eight.inverse_transform(eight.transform(x.numpy())))
    assert m["baseline_pca/nmse"] == pytest.approx(float((exact - x).pow(2).mean() / variance), rel=1e-4)
