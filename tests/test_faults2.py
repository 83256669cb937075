"""Nothing lost, part 2: Ctrl-C saves and says where, a run directory holds one run and serves one process, and
every check runs before the first write (lightning_ae/interrupts.py, lightning_ae/run_dir.py)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(ROOT)}  # the subprocesses import tests.signal_at
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "evaluation.enabled=false"]
SHORT = ["trainer.max_epochs=1", "data.batch_size=16", "trainer.log_every_n_steps=1", "test=false", *QUIET]


def signal_at(step: int, signum: str = "SIGINT", times: int = 1) -> list[str]:
    return ["+callbacks.signal._target_=tests.signal_at.SignalAt", f"+callbacks.signal.step={step}",
            f"+callbacks.signal.signum={signum}", f"+callbacks.signal.times={times}"]


def one_error_line(res, code: int = 2) -> str:
    lines = [line for line in res.stderr.strip().splitlines() if "srun" not in line]  # Lightning's SLURM hint
    assert res.returncode == code and len(lines) == 1 and lines[0].startswith("error: "), \
        (res.returncode, res.stderr[-3000:])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def history(run: Path, name: str = "metrics.csv") -> list[dict]:
    """The rows of a metrics history, each without its empty cells (a resumed run may add columns)."""
    import csv

    with open(run / "csv" / name, newline="") as fh:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("finished")
    res = run_cli(["hydra.run.dir=run", "trainer.max_epochs=1", "test=false", *QUIET], cwd)
    assert res.returncode == 0, res.stderr[-2000:]
    return cwd / "run"


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


def test_ctrl_c_saves_last_ckpt_names_it_and_exits_130(tmp_path):
    res = run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5)], tmp_path, env=ENV)
    line = one_error_line(res, 130)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert line == f"error: stopped by Ctrl-C at step 5; {last} holds it; rerun the same command with " \
                   "resume=auto to continue"
    assert torch.load(last, weights_only=False, map_location="cpu")["global_step"] == 5
    rows = history(tmp_path / "run")
    assert [int(r["step"]) for r in rows if "train/loss" in r] == [0, 1, 2, 3, 4]
    resumed = run_cli(["hydra.run.dir=run", *SHORT, "resume=auto"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert history(tmp_path / "run")[:len(rows)] == rows  # the history continues


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path):
    line = one_error_line(run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5, times=2)], tmp_path, env=ENV), 130)
    assert "stopped at once" in line
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()


def test_resume_without_a_checkpoint_keeps_the_earlier_history(tmp_path):
    """A run killed before its first save: resume=auto starts over, and the killed attempt's rows stay."""
    res = run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5, "SIGKILL")], tmp_path, env=ENV)
    assert res.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    assert not (run / "checkpoints" / "last.ckpt").exists()
    before = (run / "csv" / "metrics.csv").read_bytes()
    resumed = run_cli(["hydra.run.dir=run", *SHORT, "resume=auto"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run / "csv" / "metrics.1.csv").read_bytes() == before
    assert "kept as" in resumed.stdout and "metrics.1.csv" in resumed.stdout
    assert history(run)[0]["step"] == "0"  # the new attempt's own history


def flat_folder(root: Path) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        Image.new("L", (8, 8), color=i * 20).save(root / f"{i}.png")
    return root


# every error path known to end a run early: each one pointed at a finished run must leave it as it was
ERROR_PATHS = {
    "new run over it": ([], "already holds a run (.hydra/config.yaml); add resume=auto"),
    "negative size": (["model.latent_dim=-3"], "latent_dim"),
    "missing folder": (["data=folder", "data.path=nowhere"], "nowhere"),
    "cvae on a flat folder": (["model=cvae", "data=folder", "data.path={flat}", "data.height=8", "data.width=8"],
                              "cvae"),
    "bad learning rate": (["optimizer.lr=-1"], "optimizer: Invalid learning rate"),
    "missing checkpoint": (["ckpt_path=missing.ckpt"], "ckpt_path=missing.ckpt does not exist"),
    "other network": (["model.latent_dim=8", "resume=auto"], "model.*"),
    "unknown option": (["model=nope"], "unknown model 'nope'"),
    "wrong type": (["data.batch_size=many"], "data.batch_size=many has the wrong type"),
    "too many devices": (["trainer.devices=999", "trainer.accelerator=cpu"], "trainer.devices=999"),
    "unknown resume": (["resume=sometimes"], "resume=sometimes is not understood"),
    "missing data": (["data=mnist", "data.download=false", "paths.data_dir=empty"], "paths.data_dir"),
    "unknown trainer option": (["+trainer.fast_run=true"], "fast_run"),
}


@pytest.mark.parametrize("case", list(ERROR_PATHS))
def test_every_error_path_leaves_a_finished_run_byte_identical(case, run_copy, tmp_path):
    args, named = ERROR_PATHS[case]
    args = [a.format(flat=flat_folder(tmp_path / "flat")) for a in args]
    before = snapshot(run_copy)
    line = one_error_line(run_cli([f"hydra.run.dir={run_copy}", *args, *QUIET], tmp_path))
    assert named in line
    assert snapshot(run_copy) == before


def test_a_second_process_on_a_run_dir_is_one_line_naming_the_holder(run_copy, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from lightning_ae.run_dir import claim; "
                               "claim(sys.argv[1], resuming=True); print('held', flush=True); time.sleep(600)",
                               str(run_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_copy)
        line = one_error_line(run_cli([f"hydra.run.dir={run_copy}", "resume=auto", *SHORT], tmp_path))
        assert f"is in use by another run (process {holder.pid})" in line
        assert snapshot(run_copy) == before
    finally:
        holder.kill()
        holder.wait()
    res = run_cli([f"hydra.run.dir={run_copy}", "resume=auto", *SHORT], tmp_path)  # a dead holder: no obstacle
    assert res.returncode == 0, res.stderr[-2000:]


def test_a_killed_run_leaves_no_obstacle(tmp_path):
    res = run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5, "SIGKILL"), "callbacks.last_checkpoint.every_n_train_steps=2"],
                  tmp_path, env=ENV)
    assert res.returncode == -signal.SIGKILL and (tmp_path / "run" / ".lock.pid").is_file()
    res = run_cli(["hydra.run.dir=run", *SHORT, "resume=auto"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.slow
def test_ddp_ranks_share_the_run_lock(tmp_path):
    res = run_cli(["hydra.run.dir=run", "trainer.max_steps=3", "trainer.devices=2", "trainer.strategy=ddp",
                   "trainer.accelerator=cpu", *SHORT], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / ".lock.pid").read_text().strip().isdigit()


def test_an_unwritable_run_dir_is_one_line(tmp_path, monkeypatch):
    """As root every folder is writable, so the permission is stubbed: the check asks os.access."""
    from lightning_ae.cli import check_overrides
    from lightning_ae.errors import UserError

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    with pytest.raises(UserError, match=f"{locked} is not writable by this user"):
        check_overrides([f"hydra.run.dir={locked / 'run'}"])
