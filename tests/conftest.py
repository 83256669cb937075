"""Shared fixtures: small generated stand-ins for every data source, and a compose helper.

Nothing here touches the network: MNIST-style IDX files, CIFAR pickles, CelebA jpgs and an image folder
are written into a session temp dir; digits ships with scikit-learn; lines are generated.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# the FID feature classifier cache: one per test session, never the user's ~/.cache
os.environ.setdefault("LIGHTNING_AE_CACHE", tempfile.mkdtemp(prefix="lae-cache-"))
torch.set_num_threads(min(2, torch.get_num_threads()))

# Per data source: overrides that keep a run tiny. Every model x data pair is smoke-tested over these.
DATA_OVERRIDES = {
    "digits": ["data.batch_size=16"],
    "mnist": ["data.batch_size=16", "data.val_size=20"],
    "fashion_mnist": ["data.batch_size=16", "data.val_size=20"],
    "cifar10": ["data.batch_size=16", "data.val_size=20"],
    "celeba": ["data.batch_size=8", "data.val_size=4", "data.height=32", "data.width=32"],
    "folder": ["data.batch_size=8", "data.val_size=4", "data.height=16", "data.width=16",
               "data.num_classes=3"],
    "lines": ["data.batch_size=16", "data.train_size=96", "data.test_size=32", "data.val_size=16"],
}
DATASETS = list(DATA_OVERRIDES)


def _rng():
    return np.random.default_rng(0)


def write_tiny_data(root: Path) -> Path:
    """Write small stand-ins in each source's on-disk layout below `root`; returns `root`."""
    from PIL import Image

    from datamodules.mnist import write_idx

    rng = _rng()
    for folder in ("MNIST", "FashionMNIST"):
        raw = root / folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for prefix, n in (("train", 96), ("t10k", 32)):
            write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
            write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (16, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, 16))}
        with open(cifar / name, "wb") as fh:
            pickle.dump(batch, fh)
    faces = root / "celeba" / "img_align_celeba"
    faces.mkdir(parents=True, exist_ok=True)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(faces / f"{i:06d}.jpg")
    for k in range(3):
        d = root / "folder" / f"class_{k}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def compose_cfg(overrides: list[str], output_dir: Path, data_root: Path | None = None, config_name: str = "train"):
    """Compose the app's config like the CLI would, with run paths pointed at `output_dir`."""
    GlobalHydra.instance().clear()
    base = [f"paths.output_dir={output_dir}"]
    if data_root is not None:
        base.append(f"paths.data_dir={data_root}")
    with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=base + list(overrides))
    return cfg


@pytest.fixture
def make_cfg(tmp_path, data_root):
    """make_cfg(model="vae", data="mnist", extra=[...]) -> a composed config for a fast run in tmp_path.

    The data's tiny overrides apply; `data=folder` points at the generated image folder. A second run in the same
    test takes a `run_dir` of its own (a run directory holds one run).
    """

    def _make(model: str = "ae", data: str = "digits", extra: list[str] | None = None, fast: bool = True,
              run_dir: str = "run"):
        overrides = [f"model={model}", f"data={data}", *DATA_OVERRIDES[data], "trainer.accelerator=cpu",
                     "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
        if data == "folder":
            overrides.append(f"data.path={data_root / 'folder'}")
        if fast:
            overrides.append("trainer.fast_dev_run=true")
        cfg = compose_cfg(overrides + list(extra or []), tmp_path / run_dir, data_root)
        return cfg

    return _make


def run_cfg(cfg):
    """Run the training job in this process; returns the optimized metric."""
    from lightning_ae.train import run

    return run(cfg)


def run_cli(args: list[str], cwd: Path, module: str = "lightning_ae", timeout: int = 300, env: dict | None = None,
            own_group: bool = False):
    """Run `python -m <module> <args>` in `cwd` as a user would; returns the CompletedProcess. `own_group`: in a
    process group of its own, as a terminal starts a command (a signal to the group then spares pytest)."""
    import subprocess
    import sys

    # one thread per process: DDP tests start two processes on our two cores
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1",
                "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, start_new_session=own_group)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A one-epoch AE run on digits, trained once per session; tests that must leave a run intact use copies."""
    cwd = tmp_path_factory.mktemp("finished")
    res = run_cli(["hydra.run.dir=run", "trainer.max_epochs=1", "test=false", "trainer.enable_progress_bar=false",
                   "trainer.enable_model_summary=false"], cwd)
    assert res.returncode == 0, res.stderr[-2000:]
    return cwd / "run"


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A copy of `finished_run` of this test's own."""
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


def only_run_dir(root: Path) -> Path:
    """The single run directory below `root` (outputs/<task>/runs/<time>); fails if there are several."""
    runs = [p.parent for p in Path(root).rglob(".hydra")]
    assert len(runs) == 1, f"expected one run directory, found {runs}"
    return runs[0]


def pytest_collection_modifyitems(config, items):
    """`gpu`-marked tests need CUDA, `cluster`-marked ones a SLURM cluster (`make test-cluster` starts one);
    without them they are skipped, never failed."""
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
    cluster = [item for item in items if "cluster" in item.keywords]
    if cluster and not slurm_cluster_up():
        skip = pytest.mark.skip(reason="needs a SLURM cluster: make test-cluster starts one on this machine")
        for item in cluster:
            item.add_marker(skip)


def slurm_cluster_up() -> bool:
    """A SLURM controller answers (the one-machine cluster of .ci/cluster.sh, or a real one)."""
    import subprocess

    if not shutil.which("scontrol"):
        return False
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
