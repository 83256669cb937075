"""Atomic checkpoint writes, resume=auto, SIGKILL and SIGTERM mid-training."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightning_ae.checkpointing import AtomicCheckpointIO

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def test_atomic_write_replaces_whole_files(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, target)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed while writing the new one

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target)["step"] == 1  # the previous checkpoint is intact


def _start(run_dir: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "lightning_ae", f"hydra.run.dir={run_dir}", "resume=auto", "test=false",
            "trainer.max_epochs=12", "trainer.log_every_n_steps=1", "logger.csv.flush_logs_every_n_steps=1",
            "callbacks.image_grids.every_n_epochs=1000", *QUIET, *extra]
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _logged_step(run_dir: Path) -> int:
    path = run_dir / "csv" / "metrics.csv"
    if not path.exists():
        return -1
    with open(path) as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh) if r.get("step")]
    return max(steps, default=-1)


def _wait_for_step(proc, run_dir: Path, step: int, timeout: float = 120) -> int:
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, f"run ended before step {step}: {proc.stderr.read()[-2000:]}"
        s = _logged_step(run_dir)
        if s >= step:
            return s
        time.sleep(0.02)
    raise AssertionError(f"no step {step} within {timeout}s")


def _ckpt(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_auto(tmp_path):
    interval = 5
    every = f"callbacks.last_checkpoint.every_n_train_steps={interval}"
    ref = _start(tmp_path / "ref", tmp_path, every)
    assert ref.wait(timeout=600) == 0, ref.stderr.read()[-2000:]
    expected = _ckpt(tmp_path / "ref")["global_step"]

    run = tmp_path / "killed"
    proc = _start(run, tmp_path, every)
    _wait_for_step(proc, run, 47)  # mid-epoch 3 (21 steps per epoch)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged, saved = _logged_step(run), _ckpt(run)["global_step"]
    assert saved < expected, "the run finished before it was killed"
    assert logged - saved <= interval  # at most one checkpoint interval lost

    again = _start(run, tmp_path, every)
    assert again.wait(timeout=600) == 0, again.stderr.read()[-2000:]
    final = _ckpt(run)
    assert final["global_step"] == expected and final["epoch"] == _ckpt(tmp_path / "ref")["epoch"]
    # one history: the killed run's rows, then the resumed ones, each step once, as the reference run logged
    assert [r["step"] for r in _rows(run)] == [r["step"] for r in _rows(tmp_path / "ref")]


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_before_exiting(tmp_path):
    run = tmp_path / "run"
    # no step checkpoints: before the signal, last.ckpt is at most the end of epoch 1 (step 21)
    proc = _start(run, tmp_path, "callbacks.last_checkpoint.every_n_train_steps=0")
    step = _wait_for_step(proc, run, 30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143  # pre-empted, not finished
    assert _ckpt(run)["global_step"] >= step
    last = proc.stderr.read().strip().splitlines()[-1]
    assert last.startswith("error: stopped by SIGTERM") and str(run / "checkpoints" / "last.ckpt") in last


@pytest.mark.parametrize("model", ["ae", "vae"])
def test_mid_epoch_resume_is_bit_identical(model, make_cfg, tmp_path):
    """Resuming from a checkpoint written mid-epoch trains on the same batches with the same noise."""
    from tests.conftest import run_cfg

    common = ["trainer.max_epochs=3", "data.batch_size=64", "test=false", "logger=none", "evaluation.enabled=false",
              "+callbacks.keep={_target_:pytorch_lightning.callbacks.ModelCheckpoint,every_n_train_steps:30,"
              f"save_top_k:-1,filename:'s{{step}}',dirpath:'{tmp_path}/steps'}}"]
    full = make_cfg(model, "digits", [*common, f"paths.output_dir={tmp_path / 'full'}"], fast=False)
    run_cfg(full)
    mid = tmp_path / "steps" / "sstep=30.ckpt"  # 21 batches per epoch: mid-epoch 2
    resumed = make_cfg(model, "digits", [*common, f"paths.output_dir={tmp_path / 'resumed'}", f"ckpt_path='{mid}'"],
                       fast=False)
    run_cfg(resumed)
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 63
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_resume_auto_continues_one_metrics_history(make_cfg, tmp_path):
    """Train 1 epoch, then `resume=auto` to 2: metrics.csv is the file an uninterrupted 2-epoch run writes."""
    from tests.conftest import run_cfg

    common = ["data.batch_size=64", "test=false", "evaluation.enabled=false", "trainer.log_every_n_steps=5"]
    run_cfg(make_cfg("ae", "digits", [*common, "trainer.max_epochs=2", f"paths.output_dir={tmp_path / 'full'}"],
                     fast=False))
    for epochs in (1, 2):
        run_cfg(make_cfg("ae", "digits", [*common, f"trainer.max_epochs={epochs}", "resume=auto",
                                          f"paths.output_dir={tmp_path / 'resumed'}"], fast=False))
    full, resumed = _rows(tmp_path / "full"), _rows(tmp_path / "resumed")
    assert [r["step"] for r in resumed] == [r["step"] for r in full]
    assert resumed == full


def test_resume_auto_continues_the_wandb_run(make_cfg, tmp_path):
    from tests.conftest import run_cfg

    for epochs in (1, 2):
        run_cfg(make_cfg("ae", "digits", ["logger=wandb", "test=false", "evaluation.enabled=false",
                                          f"trainer.max_epochs={epochs}", "resume=auto"], fast=False))
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    # each offline run directory holds run-<id>.wandb (its name may end in -1 when both runs start in one second)
    ids = {f.stem.removeprefix("run-") for r in runs for f in r.glob("run-*.wandb")}
    assert len(runs) == 2 and len(ids) == 1  # two sessions, one run id


@pytest.mark.parametrize("scheduler", ["none", "step"])
def test_resume_applies_the_configured_optimizer_settings(scheduler, make_cfg, tmp_path):
    """`resume=auto optimizer.lr=...` trains on at the new lr (and betas), not the checkpoint's; a StepLR
    schedule keeps its progress: after 2 epochs at step_size=1, gamma=0.5 the lr is new_lr * 0.5**2."""
    from tests.conftest import run_cfg

    common = ["data.batch_size=64", "test=false", "evaluation.enabled=false", "logger=none", "resume=auto",
              f"scheduler={scheduler}"] + (["scheduler.step_size=1"] if scheduler == "step" else [])
    run_cfg(make_cfg("ae", "digits", [*common, "trainer.max_epochs=1"], fast=False))
    run_cfg(make_cfg("ae", "digits", [*common, "trainer.max_epochs=2", "optimizer.lr=0.02",
                                      "optimizer.betas=[0.5,0.9]"], fast=False))
    group = _ckpt(tmp_path / "run")["optimizer_states"][0]["param_groups"][0]
    assert group["lr"] == pytest.approx(0.02 * (0.5**2 if scheduler == "step" else 1), rel=1e-12)
    assert tuple(group["betas"]) == (0.5, 0.9)


def test_resume_applies_an_extra_optimizers_own_setting(make_cfg, tmp_path):
    """VAE-GAN's decoder and discriminator optimizers follow `optimizer` with their own arguments replaced: on
    `resume=auto model.discriminator_optimizer.lr=...` that one optimizer trains on at the new lr, the others
    at optimizer.lr, each under its StepLR progress (2 epochs, step_size=1, gamma=0.5: lr * 0.5**2)."""
    from tests.conftest import run_cfg

    common = ["data.batch_size=64", "test=false", "evaluation.enabled=false", "logger=none", "resume=auto",
              "scheduler=step", "scheduler.step_size=1", "optimizer.lr=0.001", "model.latent_dim=4"]
    run_cfg(make_cfg("vaegan", "digits", [*common, "trainer.max_epochs=1"], fast=False))
    run_cfg(make_cfg("vaegan", "digits", [*common, "trainer.max_epochs=2", "model.discriminator_optimizer.lr=0.02"],
                     fast=False))
    groups = [s["param_groups"][0] for s in _ckpt(tmp_path / "run")["optimizer_states"]]
    assert [g["lr"] for g in groups] == pytest.approx([0.001 * 0.5**2, 0.001 * 0.5**2, 0.02 * 0.5**2], rel=1e-12)
