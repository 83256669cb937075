"""FID through the project's cached feature classifier (Inception weights are not available here)."""
from __future__ import annotations

import pytest
import torch

from lightning_ae.errors import UserError
from lightning_ae.metrics.fid import feature_classifier, fid_score


def test_fid_is_near_zero_for_the_data_itself_and_large_for_noise(digits, fid_cache):
    x, _ = digits.tensors("test")
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
    assert same["fid/classifier_accuracy"] > 0.2  # well above chance (0.1) after one short epoch
    assert 0 <= same["fid/classifier"] < noise["fid/classifier"] / 4  # small-sample bias keeps it above 0


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
