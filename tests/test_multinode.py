"""Two nodes on one machine: two torchrun agents on 127.0.0.1 (c10d rendezvous, one CPU process each, gloo),
each standing for a node. One run directory, ranks in step, the same result as one node with two processes,
and a node killed mid-run resumed with `resume=auto`."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightning_ae.cli import torchrun_overrides
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
TINY = ["model=ae", "seed=7", "trainer.deterministic=true", "trainer.accelerator=cpu", "trainer.max_epochs=3",
        "trainer.enable_progress_bar=false", "evaluation.enabled=false",
        "callbacks.last_checkpoint.every_n_train_steps=5"]  # 10 steps an epoch on digits with two ranks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dump_weights(where: Path) -> list[str]:
    return ["+callbacks.dump._target_=tests.launch_probes.DumpWeights", f"+callbacks.dump.dirpath={where}"]


def two_nodes(cwd: Path, args: list[str], timeout: int = 300) -> list[subprocess.CompletedProcess]:
    """Start two torchrun agents (`--nnodes=2 --nproc_per_node=1`, c10d rendezvous on 127.0.0.1), the second
    1.2 s after the first so that their clocks read different seconds, as on two real nodes."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1", "--max-restarts=0",
           "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}", "--rdzv-id=lae-two-nodes",
           "-m", "lightning_ae", *args]
    agents = []
    for node in range(2):
        agents.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, start_new_session=True))
        time.sleep(1.2 if node == 0 else 0)
    results = []
    for agent in agents:
        try:
            out, _ = agent.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, 9)
            out, _ = agent.communicate()
        results.append(subprocess.CompletedProcess(agent.args, agent.returncode, out, ""))
    return results


def run_dirs(cwd: Path) -> list[Path]:
    root = cwd / "outputs" / "train" / "runs"
    return sorted(root.iterdir()) if root.exists() else []


def final_metrics(run: Path) -> dict[str, float]:
    return json.loads((run / "metrics.json").read_text())


def train_steps(run: Path) -> list[int]:
    with open(run / "csv" / "metrics.csv") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh) if row.get("train/loss")]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_two_torchrun_nodes_train_as_one_job_and_resume_after_a_node_dies(tmp_path):
    # 1) Two nodes, uninterrupted: one run directory with rank 1's log, one metrics.json, one set of checkpoints.
    whole = tmp_path / "whole"
    for res in two_nodes(whole, [*TINY, *dump_weights(tmp_path / "w_whole")]):
        assert res.returncode == 0, res.stdout[-3000:]
        assert "sync_dist" not in res.stdout  # Lightning's advice for values logged per epoch without it
    runs = run_dirs(whole)
    assert len(runs) == 1, runs
    run = runs[0]
    assert (run / "train.log").exists() and (run / "train_rank1.log").exists()
    assert len(list(whole.rglob("metrics.json"))) == 1 and len(list(whole.rglob("last.ckpt"))) == 1
    assert len(list(whole.rglob("epoch_*.ckpt"))) == 1
    w0, w1 = (torch.load(tmp_path / "w_whole" / f"weights_rank{r}.pt") for r in (0, 1))
    assert w0["global_step"] == w1["global_step"] == 30
    assert_same_weights(w0["state_dict"], w1["state_dict"])  # DDP kept the ranks in step
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert_same_weights(ckpt["state_dict"], w0["state_dict"])

    # 2) The same job on one node with two processes: the same final metrics.
    one = tmp_path / "one"
    one.mkdir()
    res = run_cli([*TINY, "trainer.devices=2"], cwd=one)
    assert res.returncode == 0, res.stderr[-3000:]
    assert final_metrics(run_dirs(one)[0]) == final_metrics(run)

    # 3) Node 1 dies after step 15; both nodes rerun with resume=auto in that directory and finish the job.
    broken = tmp_path / "broken"
    first = two_nodes(broken, [*TINY, "+callbacks.kill._target_=tests.launch_probes.KillNode",
                               "+callbacks.kill.step=15"], timeout=180)
    assert all(r.returncode != 0 for r in first), [r.returncode for r in first]
    (run,) = run_dirs(broken)
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    assert saved in (10, 15)
    for res in two_nodes(broken, [*TINY, f"hydra.run.dir={run}", "resume=auto", *dump_weights(tmp_path / "w_res")]):
        assert res.returncode == 0, res.stdout[-3000:]
    assert run_dirs(broken) == [run]
    for log in ("train.log", "train_rank1.log"):
        assert f"resume=auto: continuing from {run / 'checkpoints' / 'last.ckpt'}" in (run / log).read_text(), log
    r0, r1 = (torch.load(tmp_path / "w_res" / f"weights_rank{r}.pt") for r in (0, 1))
    assert r0["global_step"] == 30
    assert_same_weights(r0["state_dict"], r1["state_dict"])
    assert_same_weights(r0["state_dict"], w0["state_dict"])  # the resumed job ends where the whole one did
    steps = train_steps(run)
    assert len(steps) == len(set(steps)) and max(steps) == 29  # one history, each logged step once


@pytest.fixture
def agent_store(monkeypatch):
    """A TCPStore standing for the one torchrun's agent serves, and the environment torchrun gives a worker."""
    from torch.distributed import TCPStore

    port = free_port()
    store = TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    for k in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(k)
    for k, v in {"TORCHELASTIC_RUN_ID": "none", "TORCHELASTIC_USE_AGENT_STORE": "True", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(port), "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    return store


def test_torchrun_ranks_with_different_clocks_share_the_first_ranks_run_dir(agent_store, monkeypatch):
    """Static rendezvous (`--master_addr/--master_port`, rdzv id "none"): rank 2 starts on another node, a minute
    later by its clock, and still gets rank 0's directory, the start time rank 0 put in the agent's store."""
    from datetime import datetime

    import lightning_ae.cli as cli

    class Clock:
        now_value = datetime(2026, 12, 7, 12, 15, 27)

        @classmethod
        def now(cls):
            return cls.now_value

    monkeypatch.setattr(cli, "datetime", Clock)
    monkeypatch.setenv("RANK", "0")
    first = torchrun_overrides(["model=ae"])
    Clock.now_value = datetime(2026, 12, 7, 12, 16, 30)
    monkeypatch.setenv("RANK", "2")
    second = torchrun_overrides(["model=ae"])
    assert first[0] == second[0] == "hydra.run.dir=${paths.log_dir}/${task_name}/runs/2026-12-07_12-15-27"
    assert first[1:] == ["trainer.devices=2", "trainer.num_nodes=2"]
    assert second[1:] == ["hydra.output_subdir=null", "hydra.job.name=train_rank2", "trainer.devices=2",
                          "trainer.num_nodes=2"]
    assert torchrun_overrides(["hydra.run.dir=/shared/run"])[0] == "hydra.output_subdir=null"  # the user's wins


def test_srun_tasks_share_a_run_dir_named_after_the_job(monkeypatch):
    """Tasks started by `srun` (several, no torchrun): the directory is named after the SLURM job, which a
    requeued job keeps, so resume=auto finds it again."""
    for k in ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in {"SLURM_JOB_ID": "4711", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "4", "SLURM_PROCID": "3",
                 "SLURM_STEP_NUM_NODES": "2"}.items():
        monkeypatch.setenv(k, v)
    assert torchrun_overrides(["model=ae"]) == [
        "hydra.run.dir=${paths.log_dir}/${task_name}/runs/slurm-4711", "hydra.output_subdir=null",
        "hydra.job.name=train_rank3", "trainer.devices=2", "trainer.num_nodes=2"]
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one task (a plain sbatch script): Hydra's own run directory
    assert torchrun_overrides(["model=ae"]) == []
