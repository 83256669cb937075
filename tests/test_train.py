"""The app as a user runs it: `python -m lightning_ae ...` in a fresh directory."""
from __future__ import annotations

import json
import os

import pytest
import pytorch_lightning as pl
import torch

from tests.conftest import only_run_dir, run_cli
from tests.wandb_records import summarize

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def test_default_run_leaves_checkpoints_metrics_and_images(tmp_path):
    res = run_cli(["trainer.max_epochs=2", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    run = only_run_dir(tmp_path / "outputs")
    ckpts = {p.name for p in (run / "checkpoints").glob("*.ckpt")}
    assert "last.ckpt" in ckpts and any(n.startswith("epoch_") for n in ckpts)
    assert (run / "csv" / "metrics.csv").read_text().count("val/loss") == 1
    assert "test/loss" in json.loads((run / "metrics.json").read_text())
    assert {"reconstructions_epoch001.png", "interpolations_epoch001.png"} <= {p.name for p in (run / "images").iterdir()}
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["lightning_ae"]["config"]["model"]["_target_"] == "lightning_ae.models.ae.AE"
    # what the user reads: our lines and the run directory, not Lightning's start-up chatter or warnings
    out = res.stdout + res.stderr
    assert f"run directory: {run.resolve()}" in out
    for chatter in ("GPU available", "TPU available", "Tip:", "weights_only", "LeafSpec", "Restoring states"):
        assert chatter not in out, chatter


def test_wandb_offline_records_history_config_and_images(tmp_path):
    res = run_cli(["model=vae", "logger=[csv,wandb]", "trainer.max_epochs=2",
                   "callbacks.image_grids.every_n_epochs=1", *QUIET], tmp_path, env={"WANDB_API_KEY": ""})
    assert res.returncode == 0, res.stderr[-2000:]
    run = only_run_dir(tmp_path / "outputs")
    files = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    rec = summarize(files[0])
    assert {"train/loss", "val/loss", "val/kl", "test/loss"} <= rec["history"]
    assert "images/samples/filenames" in rec["history"]
    assert {"model", "data", "trainer", "optimizer"} <= rec["config"]  # the full resolved config
    assert any(f.startswith("media/images/") for f in rec["files"])


def test_wandb_online_without_key_falls_back_to_offline(tmp_path):
    res = run_cli(["logger=wandb", "trainer.max_epochs=1", *QUIET], tmp_path,
                  env={"WANDB_MODE": "online", "WANDB_API_KEY": "", "NETRC": str(tmp_path / "none")})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "logging offline instead" in res.stdout + res.stderr
    assert list(only_run_dir(tmp_path / "outputs").glob("wandb/offline-run-*"))


def test_bf16_mixed_on_cpu(tmp_path):
    """A bf16-mixed run's test/loss is the Bernoulli NLL of the test images under its checkpoint, written
    out here in fp32 (to bf16's ~3 significant digits)."""
    import torch.nn.functional as F
    from hydra.utils import instantiate

    from lightning_ae.building import load_model

    res = run_cli(["model=ae", "trainer.precision=bf16-mixed", "trainer.max_epochs=1", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    run = only_run_dir(tmp_path / "outputs")
    metrics = json.loads((run / "metrics.json").read_text())
    (best,) = (run / "checkpoints").glob("epoch_*.ckpt")
    ckpt = torch.load(best, weights_only=False)
    model = load_model(best, ckpt)
    dm = instantiate(ckpt["lightning_ae"]["config"]["data"])
    dm.setup()
    x, _ = dm.tensors("test")
    with torch.no_grad():
        logits = model.decoder(model.encoder(x))
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
    assert metrics["test/loss"] == pytest.approx(float(nll), rel=2e-2)


def test_resume_from_ckpt_path_continues_training(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    res = run_cli(["trainer.max_epochs=2", *QUIET], first)
    assert res.returncode == 0, res.stderr[-2000:]
    ckpt = only_run_dir(first / "outputs") / "checkpoints" / "last.ckpt"
    steps_before = torch.load(ckpt, weights_only=False)["global_step"]
    second = tmp_path / "second"
    second.mkdir()
    res = run_cli(["trainer.max_epochs=4", f"ckpt_path={ckpt}", *QUIET], second)
    assert res.returncode == 0, res.stderr[-2000:]
    resumed = torch.load(only_run_dir(second / "outputs") / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 3 and resumed["global_step"] == 2 * steps_before
    assert ckpt.exists()  # the checkpoint we resumed from is untouched


@pytest.mark.slow
def test_two_cpu_processes_share_one_run_dir(tmp_path):
    res = run_cli(["model=vae", "trainer.devices=2", "trainer.max_epochs=1", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    run = only_run_dir(tmp_path / "outputs")  # asserts there is exactly one
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert (run / "train_ddp_process_1.log").exists()  # rank 1 ran, inside the same directory
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    # digits: 1350 training images / 64 per batch / 2 ranks -> 10 steps per epoch
    assert ckpt["global_step"] == 1350 // 64 // 2


@pytest.mark.slow
def test_multirun_two_jobs(tmp_path):
    res = run_cli(["-m", "model=ae,vae", "trainer.max_epochs=1", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    sweeps = list((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    targets = [json.loads((j / "metrics.json").read_text()) for j in jobs]
    assert all("test/loss" in t for t in targets)
    assert "val/kl" in targets[1] and "val/kl" not in targets[0]


def test_unknown_model_lists_the_choices(tmp_path):
    res = run_cli(["model=vea"], tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'vea'" in lines[0] and "vae" in lines[0]
    assert "Traceback" not in res.stderr


def test_missing_data_offline_is_one_line(tmp_path):
    res = run_cli(["data=mnist", f"paths.data_dir={tmp_path / 'empty'}", "data.download=false"], tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / "empty" / "MNIST" / "raw") in lines[0] and "paths.data_dir" in lines[0]


def test_missing_resume_checkpoint_is_one_line(tmp_path):
    res = run_cli(["ckpt_path=nowhere.ckpt"], tmp_path)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "error: ckpt_path=nowhere.ckpt does not exist; give the path of a .ckpt file to resume from"]


def test_an_added_trainer_typo_outside_the_command_line_is_the_same_one_line(tmp_path):
    """A config composed in code skips the command-line checks: building its trainer still names the option
    and the nearest valid ones, as check_values does."""
    from lightning_ae.errors import UserError
    from lightning_ae.train import build_trainer
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["+trainer.max_epoch=3", "trainer.accelerator=cpu"], tmp_path)
    with pytest.raises(UserError, match=r"^unknown trainer option 'max_epoch'; did you mean max_epochs or"):
        build_trainer(cfg, [], [])


class ValLossAtEpochEnd(pl.Callback):
    """A user's callback that reads the epoch's validation loss in on_validation_epoch_end."""

    seen: list[float] = []

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.seen.append(float(trainer.callback_metrics["val/loss"]))


def test_callbacks_see_the_epochs_own_validation_metrics(make_cfg):
    """The val/test means are logged once per epoch (not per batch, for speed), yet a callback's
    on_validation_epoch_end already sees this epoch's value, as with a per-batch `self.log`."""
    import csv
    from pathlib import Path

    from tests.conftest import run_cfg

    ValLossAtEpochEnd.seen.clear()
    cfg = make_cfg("vae", "digits", fast=False, extra=[
        "trainer.max_epochs=2", "+trainer.limit_train_batches=3", "logger=csv", "test=false", "evaluation.enabled=false",
        "+callbacks.seen._target_=tests.test_train.ValLossAtEpochEnd"])
    run_cfg(cfg)
    rows = csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv"))
    logged = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(logged) == 2 and ValLossAtEpochEnd.seen == pytest.approx(logged)


def test_the_nvml_cuda_check_is_dropped_only_without_a_gpu(monkeypatch):
    """Lightning's PYTORCH_NVML_BASED_CUDA_CHECK=1 makes every torch.cuda.is_available() (Adam asks each step) load
    NVML again; without a device there is no fork to protect, so the variable goes; with one it stays."""
    from lightning_ae.train import skip_nvml_check_without_gpu

    for devices, kept in ((0, False), (1, True)):
        monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
        monkeypatch.setattr(torch.cuda, "device_count", lambda: devices)
        skip_nvml_check_without_gpu()
        assert ("PYTORCH_NVML_BASED_CUDA_CHECK" in os.environ) == kept


def test_the_profiler_report_is_shown(tmp_path):
    """trainer.profiler=simple prints Lightning's table of hook times (its logger is kept at INFO while
    Lightning's start-up chatter is at WARNING: conf/hydra/default.yaml)."""
    res = run_cli(["trainer.fast_dev_run=true", "trainer.profiler=simple", "evaluation.enabled=false", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    report = res.stdout + res.stderr
    assert "FIT Profiler Report" in report and "run_training_epoch" in report, report[-2000:]
