"""model.fused_steps (issue #14): several optimizer steps per training_step call train the weights, log the rows
and write the checkpoints of the run with one step per call, and resume as exactly."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lightning_ae.errors import UserError
from tests.conftest import run_cfg

#: digits at batch 64: 21 training batches an epoch (at fused_steps=10 an epoch is calls of 10, 10 and 1 steps)
COMMON = ["data.batch_size=64", "evaluation.enabled=false", "trainer.log_every_n_steps=10", "scheduler=step",
          "scheduler.step_size=1"]


def _run(make_cfg, out: Path, extra: list[str], model: str = "vae") -> dict:
    cfg = make_cfg(model, "digits", [*COMMON, f"paths.output_dir={out}", *extra], fast=False)
    run_cfg(cfg)
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)


def _rows(out: Path) -> list[dict[str, float]]:
    with open(out / "csv" / "metrics.csv") as fh:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(fh)]


class StepsPerCall(pl.Callback):
    """Records the steps per call a fit planned (in the class: the callback is built from the config)."""
    seen = None

    def on_train_start(self, trainer, pl_module):
        StepsPerCall.seen = pl_module.steps_per_call


def test_fused_steps_train_and_log_what_one_step_per_call_does(make_cfg, tmp_path):
    """Two epochs of the VAE (noise ε each step, an lr schedule stepped per epoch): same weights bit for bit, same
    optimizer state and lr, and the same metrics.csv, row for row, step numbers included."""
    one = _run(make_cfg, tmp_path / "one", ["trainer.max_epochs=2", "model.fused_steps=1"])
    fused = _run(make_cfg, tmp_path / "fused", ["trainer.max_epochs=2", "model.fused_steps=10"])
    assert one["global_step"] == fused["global_step"] == 42
    for k, v in one["state_dict"].items():
        assert torch.equal(v, fused["state_dict"][k]), k
    assert one["optimizer_states"][0]["param_groups"][0]["lr"] == fused["optimizer_states"][0]["param_groups"][0][
        "lr"] == pytest.approx(1e-3 * 0.5**2)
    rows = _rows(tmp_path / "one")
    assert [r["step"] for r in rows if "train/loss" in r] == [9, 19, 29, 39]
    assert rows == _rows(tmp_path / "fused")


@pytest.mark.parametrize("fused,stop,extra", [
    (10, 30, ["callbacks.last_checkpoint.every_n_train_steps=10"]),  # inside a call: 9 of its 10 steps
    (1, 18, []),  # no step checkpoint there: last.ckpt is written at the batch that reaches max_steps
])
def test_a_run_stopped_by_max_steps_and_resumed_continues_exactly(make_cfg, tmp_path, fused, stop, extra):
    """Stopped by trainer.max_steps mid-epoch, then `resume=auto` to 3 epochs: the weights and the step rows of an
    uninterrupted run (the stop itself adds one epoch-level row)."""
    extra = ["trainer.max_epochs=3", "test=false", f"model.fused_steps={fused}", *extra]
    full = _run(make_cfg, tmp_path / "full", extra)
    stopped = _run(make_cfg, tmp_path / "resumed", [*extra, f"trainer.max_steps={stop}"])
    assert stopped["global_step"] == stop and stopped["epoch"] == stop // 21
    resumed = _run(make_cfg, tmp_path / "resumed", [*extra, "resume=auto"])
    assert full["global_step"] == resumed["global_step"] == 63
    for k, v in full["state_dict"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
    steps = [[r for r in _rows(tmp_path / run) if "train/loss" in r] for run in ("full", "resumed")]
    assert steps[0] == steps[1] and len(steps[0]) == 6


@pytest.mark.parametrize("extra,per_call", [
    ([], 10),
    (["trainer.log_every_n_steps=4"], 4),                       # one logged row per call at most
    (["callbacks.last_checkpoint.every_n_train_steps=3"], 3),   # step checkpoints keep their interval
    (["+trainer.limit_train_batches=0.5"], 1),                  # Lightning counts these in calls
    (["+trainer.val_check_interval=0.5"], 1),
    (["+callbacks.keep={_target_:pytorch_lightning.callbacks.ModelCheckpoint,every_n_train_steps:7}"], 1),
])
def test_steps_per_call_follow_what_counts_single_batches(make_cfg, tmp_path, extra, per_call):
    StepsPerCall.seen = None
    _run(make_cfg, tmp_path / "run", ["trainer.max_epochs=1", "model.fused_steps=10", "test=false",
                                      "+callbacks.seen._target_=tests.models.test_fused.StepsPerCall", *extra])
    assert StepsPerCall.seen == per_call


def test_an_integer_batch_limit_counts_batches_not_calls(make_cfg, tmp_path):
    ckpt = _run(make_cfg, tmp_path / "run", ["trainer.max_epochs=2", "+trainer.limit_train_batches=7", "test=false"])
    assert ckpt["global_step"] == 14


def test_gradient_clipping_trains_in_lightnings_loop(make_cfg, tmp_path):
    """trainer.gradient_clip_val applies only to Lightning's automatic loop: the run uses it (fused_steps=1)."""
    cfg = make_cfg("ae", "digits", [*COMMON, "trainer.max_epochs=1", "trainer.gradient_clip_val=0.5", "test=false",
                                    f"paths.output_dir={tmp_path}"], fast=False)
    run_cfg(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 21 and ckpt["lightning_ae"]["config"]["model"]["fused_steps"] == 1


def test_resuming_across_fused_and_unfused_is_one_line(make_cfg, tmp_path):
    """The two loops count global steps apart, so such a resume would restart the step count."""
    _run(make_cfg, tmp_path / "run", ["trainer.max_epochs=1", "test=false"])
    with pytest.raises(UserError, match=r"was trained with model.fused_steps=10; resume it with model.fused_steps=10"):
        _run(make_cfg, tmp_path / "run", ["trainer.max_epochs=2", "test=false", "resume=auto", "model.fused_steps=1"])


def test_a_nan_inside_a_call_names_its_own_step(make_cfg, tmp_path, monkeypatch):
    from lightning_ae.models.ae import AE

    real_loss = AE.loss

    def poisoned(self, batch):
        terms = real_loss(self, batch)
        if self.training and self.global_step == 13:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(AE, "loss", poisoned)
    with pytest.raises(UserError, match=r"train/loss = nan at step 13 .*last\.ckpt"):
        _run(make_cfg, tmp_path / "run", ["trainer.max_epochs=1", "callbacks.last_checkpoint.every_n_train_steps=10"],
             model="ae")
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 10


@pytest.mark.parametrize("model", ["acai", "nvae_small"])
def test_variants_that_count_their_own_steps_refuse_fusing(make_cfg, tmp_path, model):
    key = "model.fused_steps=2" if model == "acai" else "+model.fused_steps=2"
    with pytest.raises(UserError, match="runs its own steps per batch: set model.fused_steps=1"):
        run_cfg(make_cfg(model, "digits", [key, f"paths.output_dir={tmp_path}"]))
