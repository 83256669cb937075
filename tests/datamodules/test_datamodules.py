"""Every datamodule loads, splits reproducibly, batches by slicing, shards for DDP and fails clearly."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from datamodules import TensorBatches, render_lines
from lightning_ae.errors import UserError
from tests.conftest import DATASETS


def build(make_cfg, data, extra=()):
    return instantiate(make_cfg("ae", data, list(extra)).data)


@pytest.mark.parametrize("data", DATASETS)
def test_loads_with_the_configured_facts(data, make_cfg):
    dm = build(make_cfg, data)
    dm.setup()
    x, y = dm.tensors("train")
    assert tuple(x.shape[1:]) == dm.shape and len(x) == len(y)
    lo, hi = dm.value_range
    assert lo <= float(x.min()) and float(x.max()) <= hi
    if dm.num_classes:
        assert 0 <= int(y.min()) and int(y.max()) < dm.num_classes
    # the three splits are disjoint in size terms and non-empty
    assert all(len(dm.splits[s][0]) > 0 for s in ("train", "val", "test"))


def test_split_is_fixed_by_the_data_seed(make_cfg):
    a, b = build(make_cfg, "digits"), build(make_cfg, "digits")
    a.setup(), b.setup()
    assert torch.equal(a.splits["val"][0], b.splits["val"][0])
    c = build(make_cfg, "digits", ["data.seed=7"])
    c.setup()
    assert not torch.equal(a.splits["val"][0], c.splits["val"][0])


def test_batches_cover_the_epoch_once_and_reshuffle():
    x = torch.arange(10).view(10, 1, 1, 1)
    batches = TensorBatches(x, torch.arange(10), batch_size=3, shuffle=True, drop_last=False, seed=0)
    first = torch.cat([b[0].flatten() for b in batches])
    second = torch.cat([b[0].flatten() for b in batches])
    assert sorted(first.tolist()) == list(range(10)) and len(batches) == 4
    assert not torch.equal(first, second)


@pytest.mark.parametrize("skip,max_batches,sizes", [
    (0, None, [10, 10, 1]),   # a call per 10 batches, cut at multiples of 10 in the epoch
    (10, None, [10, 1]),      # resumed after a whole call
    (9, None, [11, 1]),       # a call cut short by max_steps counts as done: its last batch joins the next call
    (0, 7, [7]),              # an integer trainer.limit_train_batches counts batches
])
def test_fused_calls_group_consecutive_batches(skip, max_batches, sizes):
    """model.fused_steps=10: items of up to ten consecutive batches of the epoch's order, as many as len() says
    (Lightning stops an epoch after len() items)."""
    x = torch.arange(42).view(42, 1, 1, 1)
    plain = TensorBatches(x, torch.arange(42), 2, shuffle=True, drop_last=True, seed=0)
    order = torch.cat([b[0].flatten() for b in plain])
    grouped = TensorBatches(x, torch.arange(42), 2, shuffle=True, drop_last=True, seed=0, group=10,
                            max_batches=max_batches, progress=lambda: (0, skip))
    items = [b[0].flatten() for b in grouped]
    assert [len(i) // 2 for i in items] == sizes and len(grouped) - (skip + 9) // 10 == len(items)
    assert torch.equal(torch.cat(items), order[2 * skip : 2 * (max_batches or 21)])


def test_ddp_shards_are_equal_sized_and_disjoint():
    x = torch.arange(20).view(20, 1, 1, 1)
    shards = [TensorBatches(x, torch.arange(20), 4, True, True, seed=3, rank=r, world_size=2) for r in (0, 1)]
    seen = [torch.cat([b[0].flatten() for b in s]) for s in shards]
    assert len(shards[0]) == len(shards[1]) == 2
    assert not set(seen[0].tolist()) & set(seen[1].tolist())


def test_dynamic_binarisation_only_in_training(make_cfg):
    dm = build(make_cfg, "mnist", ["data.binarize=dynamic"])
    dm.setup()
    x = dm.splits["train"][0][:8]
    train = dm.transform(x, train=True)
    assert set(train.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(dm.transform(x, train=False), dm.transform(x, train=False))


def test_dynamic_binarisation_evaluates_one_fixed_bernoulli_draw(make_cfg):
    """The protocol: the test set is binarised once by Bernoulli sampling from data.seed (not thresholded),
    so two datamodules (two evaluations of a checkpoint) see the identical binary test set."""
    first, second = (build(make_cfg, "mnist", ["data.binarize=dynamic"]) for _ in range(2))
    grey = build(make_cfg, "mnist").tensors("test")[0]
    a, b = first.tensors("test")[0], second.tensors("test")[0]
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    g = torch.Generator().manual_seed(first.seed)  # val is drawn first, then test, from one generator
    expected_val = torch.bernoulli(build(make_cfg, "mnist").tensors("val")[0], generator=g)
    assert torch.equal(first.tensors("val")[0], expected_val)
    assert torch.equal(a, torch.bernoulli(grey, generator=g))
    assert not torch.equal(a, (grey > 0.5).float())  # not the threshold


def test_lines_are_centred_segments_in_minus_one_to_one(make_cfg):
    dm = build(make_cfg, "lines")
    dm.setup()
    x, _ = dm.tensors("test")
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    img = render_lines(torch.tensor([0.0]))[0, 0]  # angle 0: a horizontal line to the right
    assert img[16, 20] > 0.9 and img[16, 10] < 0.1 and img[5, 20] == 0


def test_missing_data_names_the_path_and_the_fix(make_cfg, tmp_path):
    dm = build(make_cfg, "mnist", [f"paths.data_dir={tmp_path / 'nowhere'}", "data.download=false"])
    with pytest.raises(UserError, match=r"nowhere/MNIST/raw.*point paths\.data_dir="):
        dm.setup()


def test_failed_download_is_one_clear_error(make_cfg, tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    dm = build(make_cfg, "mnist", [f"paths.data_dir={tmp_path}", "data.download=true"])
    with pytest.raises(UserError, match="download failed"):
        dm.setup()


def test_image_folder_errors(make_cfg, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no image files"):
        build(make_cfg, "folder", [f"data.path={empty}"]).setup()
    (empty / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="could be read"):
        build(make_cfg, "folder", [f"data.path={empty}"]).setup()


def test_image_folder_skips_unreadable_files_with_a_warning(make_cfg, data_root, tmp_path, caplog):
    import shutil

    folder = tmp_path / "imgs"
    shutil.copytree(data_root / "folder", folder)
    (folder / "class_0" / "bad.png").write_bytes(b"junk")
    dm = build(make_cfg, "folder", [f"data.path={folder}"])
    with caplog.at_level("WARNING"):
        dm.setup()
    assert "skipped 1 unreadable" in caplog.text
    assert sum(len(dm.splits[s][0]) for s in dm.splits) == 24


def test_resident_data_off_a_gpu_is_said_once(make_cfg, caplog):
    """data.resident=true asks for GPU memory: on a CPU run the data stays where it is, and one line says so."""
    import logging

    from tests.conftest import run_cfg

    with caplog.at_level(logging.INFO, logger="lightning_ae"):
        run_cfg(make_cfg("ae", "digits", ["data.resident=true"]))
    said = [r.message for r in caplog.records if "data.resident=true" in r.message]
    assert said == ["data.resident=true holds data sets in GPU memory; on cpu they stay in host memory"]
