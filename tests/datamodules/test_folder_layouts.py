"""data=folder in each layout: flat, class folders, train/test, train/val/test, data.test_path; and
`lightning_ae.eval data.path=<folder>` scoring all of that folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datamodules import FolderDataModule
from lightning_ae.errors import UserError

SIZE = dict(channels=1, height=4, width=4, val_size=2, seed=0)


def write(folder: Path, values: list[int]) -> set[int]:
    """One 4×4 grey image per value, filled with it: an image is recognised by its pixel value."""
    folder.mkdir(parents=True, exist_ok=True)
    for v in values:
        Image.fromarray(np.full((4, 4), v, dtype=np.uint8)).save(folder / f"img{v:03d}.png")
    return set(values)


def split(dm: FolderDataModule, name: str) -> dict[int, int]:
    """{pixel value: label} of one split."""
    x, y = dm.splits[name]
    return dict(zip(x[:, 0, 0, 0].tolist(), y.tolist()))


def loaded(path, **kwargs) -> FolderDataModule:
    dm = FolderDataModule(path=str(path), **SIZE, **kwargs)
    dm.setup()
    return dm


def test_flat_folder_holds_out_test_size_unlabelled(tmp_path):
    values = write(tmp_path, list(range(20)))
    dm = loaded(tmp_path, test_size=0.25)
    parts = [split(dm, s) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [13, 2, 5]
    assert set().union(*parts) == values and all(set(p.values()) == {-1} for p in parts)


def test_class_folders_are_labels(tmp_path):
    a, b = write(tmp_path / "cat", list(range(10))), write(tmp_path / "dog", list(range(100, 110)))
    dm = loaded(tmp_path)
    everything = {k: v for s in ("train", "val", "test") for k, v in split(dm, s).items()}
    assert everything == {**dict.fromkeys(a, 0), **dict.fromkeys(b, 1)} and dm.classes == ["cat", "dog"]


@pytest.mark.parametrize("with_val", [False, True])
def test_train_val_test_folders_are_the_splits(with_val, tmp_path):
    train = {c: write(tmp_path / "train" / c, list(range(k * 50, k * 50 + 12))) for k, c in enumerate(("a", "b"))}
    test = {c: write(tmp_path / "test" / c, list(range(200 + k * 20, 205 + k * 20))) for k, c in enumerate(("a", "b"))}
    val = {"b": write(tmp_path / "val" / "b", [250, 251])} if with_val else {}
    dm = loaded(tmp_path)
    assert dm.classes == ["a", "b"]  # not ["test", "train"]
    label = {"a": 0, "b": 1}
    assert split(dm, "test") == {v: label[c] for c, vs in test.items() for v in vs}
    given = {v: label[c] for folders in (train, val) for c, vs in folders.items() for v in vs}
    assert {**split(dm, "train"), **split(dm, "val")} == given
    if with_val:
        assert split(dm, "val") == {250: 1, 251: 1}


def test_test_path_is_the_whole_test_split(tmp_path):
    train = write(tmp_path / "mine", list(range(30)))
    test = write(tmp_path / "theirs", list(range(100, 107)))
    dm = loaded(tmp_path / "mine", test_path=str(tmp_path / "theirs"))
    assert set(split(dm, "test")) == test
    assert set(split(dm, "train")) | set(split(dm, "val")) == train


def test_a_test_class_the_training_folder_lacks_is_one_line(tmp_path):
    write(tmp_path / "train" / "a", list(range(6)))
    write(tmp_path / "test" / "zebra", [200])
    with pytest.raises(UserError, match="zebra"):
        loaded(tmp_path)


def test_eval_data_path_scores_all_of_that_folder(tmp_path):
    """`python -m lightning_ae.eval ... data.path=<root>/test` (no `+`): that folder, all of it, is the test split."""
    from hydra.utils import instantiate

    from lightning_ae.building import stored_data_config
    from tests.conftest import compose_cfg

    write(tmp_path / "train", list(range(30)))
    test = write(tmp_path / "test", list(range(100, 111)))
    stored = {"data": {"_target_": "datamodules.FolderDataModule", "path": str(tmp_path / "train"), **SIZE}}
    cfg = compose_cfg(["ckpt_path=x.ckpt", f"data.path={tmp_path / 'test'}"], tmp_path / "out", config_name="eval")
    dm = instantiate(stored_data_config(stored, cfg.data))
    dm.setup()
    assert set(split(dm, "test")) == test


def test_eval_data_path_leaves_the_training_folder_to_the_fitted_parts(tmp_path):
    """The parts fitted on training images (PCA, probe, hashing database) learn from the checkpoint's training
    folder, not from the folder `lightning_ae.eval data.path=<folder>` scores."""
    from hydra.utils import instantiate

    from lightning_ae.building import stored_data_config
    from tests.conftest import compose_cfg

    train = write(tmp_path / "train", list(range(30)))
    write(tmp_path / "test", list(range(100, 111)))
    stored = {"data": {"_target_": "datamodules.FolderDataModule", "path": str(tmp_path / "train"), **SIZE}}
    cfg = compose_cfg(["ckpt_path=x.ckpt", f"data.path={tmp_path / 'test'}"], tmp_path / "out", config_name="eval")
    dm = instantiate(stored_data_config(stored, cfg.data))
    dm.setup()
    assert set(split(dm, "train")) | set(split(dm, "val")) == train
