"""GPU-only checks (skipped without CUDA): 16-mixed with a GradScaler, bf16, two GPUs."""
from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch

from lightning_ae import config_options
from tests.conftest import only_run_dir, run_cli

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
MODELS = [m for m in ("ae", "vae", "vqvae", "vaegan", "acai", "alae", "nvae_small") if m in config_options("model")]


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
@pytest.mark.parametrize("model", MODELS)
def test_mixed_precision_on_gpu(tmp_path, model, precision):
    res = run_cli([f"model={model}", "trainer=gpu", f"trainer.precision={precision}", "trainer.max_epochs=2", *QUIET],
                  tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((only_run_dir(tmp_path / "outputs") / "metrics.json").read_text())
    assert metrics["test/loss"] == metrics["test/loss"]  # finite, not NaN


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpus_one_run_dir(tmp_path):
    res = run_cli(["model=vae", "trainer=gpu", "trainer.devices=2", "trainer.max_epochs=1", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (only_run_dir(tmp_path / "outputs") / "checkpoints" / "last.ckpt").exists()


class LoaderDevice(pl.Callback):
    """Records where the training loader's tensors live (a callback built from the config)."""
    seen = None

    def on_train_start(self, trainer, pl_module):
        LoaderDevice.seen = trainer.train_dataloader.x.device.type


@pytest.mark.gpu
@pytest.mark.parametrize("resident,device", [("auto", "cuda"), ("false", "cpu")])
def test_the_data_set_stays_in_gpu_memory(make_cfg, resident, device):
    """data.resident=auto on a GPU: batches are slices of tensors already there, with no copy per step."""
    from tests.conftest import run_cfg

    run_cfg(make_cfg("vae", "digits", ["trainer=gpu", "trainer.accelerator=gpu", f"data.resident={resident}",
                                       "+callbacks.where._target_=tests.test_gpu.LoaderDevice"]))
    assert LoaderDevice.seen == device
