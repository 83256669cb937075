"""The README's SLURM recipe through a real `sbatch`: `.ci/cluster.sh` (`make test-cluster`) starts a one-machine
cluster of two nodes (node1, node2: two slurmd on this host) and runs these tests; without a reachable cluster
they are skipped. Each sweep is `python -m lightning_ae -m hydra/launcher=slurm ... resume=auto`, on CPUs."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
# The recipe on CPU nodes: one CPU per task and no GPU request (hydra/launcher=slurm asks for trainer.devices GPUs).
RECIPE = ["-m", "hydra/launcher=slurm", "model=ae", "trainer.accelerator=cpu", "hydra.launcher.cpus_per_task=1",
          "hydra.launcher.gpus_per_node=null", "trainer.enable_progress_bar=false", "evaluation.enabled=false",
          "resume=auto"]


def slurm(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout


def submit(cwd: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "lightning_ae", *RECIPE, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(sweep: subprocess.Popen, timeout: float = 420) -> str:
    try:
        out, _ = sweep.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        sweep.kill()
        slurm("scancel", "--user", os.environ.get("USER", "root"))
        out, _ = sweep.communicate()
        pytest.fail(f"the sweep did not finish in {timeout} s:\n{out[-3000:]}")
    return out


def wait_for(what, timeout: float = 180, every: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = what()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what.__doc__}")


def job_dirs(cwd: Path) -> list[Path]:
    return sorted(p for p in (cwd / "outputs" / "train" / "multiruns").glob("*/*") if p.name.isdigit())


def hurry_requeued(job: str) -> None:
    """A requeued job waits 2 minutes (SLURM's hold-off before it may start again); let it start now."""
    def started_again():
        """the requeued job to start again"""
        state = slurm("scontrol", "show", "job", job)
        if "JobState=PENDING" in state:
            slurm("scontrol", "update", f"JobId={job}", "EligibleTime=now")
        return "JobState=RUNNING" in state and "Restarts=0" not in state
    wait_for(started_again, every=2)


def training(where: Path, after: int = 0):
    """A condition for `wait_for`: the job below `where` has logged a training row past step `after`."""
    def rows():
        return any(max(train_steps(p.parents[1]), default=-1) > after for p in where.rglob("metrics.csv"))
    rows.__doc__ = f"a training row past step {after}"
    return rows


def train_steps(run: Path) -> list[int]:
    if not (run / "csv" / "metrics.csv").exists():
        return []
    with open(run / "csv" / "metrics.csv") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh) if row.get("train/loss")]


def test_two_job_sweep_of_two_node_jobs(tmp_path):
    """`seed=3,4 trainer.num_nodes=2`: two jobs, one run directory each, each one DDP job over node1 and node2 (one
    task each, gloo): its ranks in step and its epochs half as long as on one process."""
    out = finish(submit(tmp_path, ["seed=3,4", "trainer.max_epochs=2", "trainer.num_nodes=2",
                                   "+callbacks.dump._target_=tests.launch_probes.DumpWeights"]))
    jobs = job_dirs(tmp_path)
    assert [j.name for j in jobs] == ["0", "1"], out[-3000:]
    assert not (tmp_path / "outputs" / "train" / "runs").exists()
    for job in jobs:
        assert (job / "metrics.json").exists() and (job / ".hydra" / "config.yaml").exists(), out[-3000:]
        assert len(list(job.rglob("last.ckpt"))) == 1
        # 1,350 training digits in batches of 64 over two ranks: 10 steps an epoch (21 on one process)
        assert torch.load(job / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2 * 10
        r0, r1 = (torch.load(job / "weights" / f"weights_rank{r}.pt") for r in (0, 1))
        for k, v in r0["state_dict"].items():
            assert torch.equal(v, r1["state_dict"][k]), k
    assert json.loads((jobs[0] / "metrics.json").read_text()) != json.loads((jobs[1] / "metrics.json").read_text())
    summary = (jobs[0].parent / "summary.md").read_text()
    assert summary.count("\n| 0 |") == summary.count("\n| 1 |") == 1


def test_requeue_saves_last_ckpt_on_sigterm_and_continues_from_it(tmp_path):
    """`scontrol requeue` of a running job (what pre-emption does): SIGTERM, last.ckpt saved at that step, the job
    requeued, and the second start continues from it: one directory, one metrics history, every step once."""
    sweep = submit(tmp_path, ["trainer.max_epochs=15", "model.fused_steps=1", "callbacks.last_checkpoint.every_n_minutes=null",
                              "+callbacks.pace._target_=tests.launch_probes.Pace", "+callbacks.pace.seconds=0.03"])

    wait_for(training(tmp_path))
    job = slurm("squeue", "-h", "-o", "%i").split()[0]
    slurm("scontrol", "requeue", job)
    hurry_requeued(job)
    out = finish(sweep)
    assert sweep.returncode == 0, out[-3000:]
    (run,) = job_dirs(tmp_path)
    errors = "".join(p.read_text() for p in run.parent.glob(".submitit/*/*_log.err"))  # both starts, appended
    stopped = re.findall(r"stopped by SIGTERM at step (\d+); (\S+) holds it", errors)
    assert len(stopped) == 1 and stopped[0][1] == str(run / "checkpoints" / "last.ckpt"), errors[-3000:]
    assert f"resume=auto: continuing from {run / 'checkpoints' / 'last.ckpt'}" in (run / "train.log").read_text()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 15 * 21
    steps = train_steps(run)  # every 10th step (trainer.log_every_n_steps), each once, across both starts
    assert steps == list(range(9, 15 * 21, 10)), steps
    assert 9 < int(stopped[0][0]) < 15 * 21  # stopped mid-run, after the first logged row


def test_time_limit_warning_requeues_max_num_timeout_times_then_ends(tmp_path):
    """`hydra.launcher.max_num_timeout=1`: at the first time-limit warning last.ckpt is saved and submitit requeues
    the job; at the second the job ends with submitit's error. The warning is the signal SLURM sends
    `signal_delay_s` before the limit (USR2 to the job's tasks); the test sends it with `scancel --signal=USR2`
    once the job trains, since SLURM's own may come up to a minute early, before a short job has started training.
    (submitit counts any warning of a job under 10 minutes as a timeout.)"""
    sweep = submit(tmp_path, ["trainer.max_epochs=200", "model.fused_steps=1", "hydra.launcher.timeout_min=10",
                              "hydra.launcher.max_num_timeout=1", "callbacks.last_checkpoint.every_n_minutes=null",
                              "+callbacks.pace._target_=tests.launch_probes.Pace", "+callbacks.pace.seconds=0.02"])
    wait_for(training(tmp_path))
    (job,) = slurm("squeue", "-h", "-o", "%i").split()
    slurm("scancel", "--signal=USR2", job)
    hurry_requeued(job)
    (run,) = job_dirs(tmp_path)

    def resumed():
        """the second start to continue from last.ckpt"""
        return "resume=auto: continuing from" in (run / "train.log").read_text()
    wait_for(resumed)
    first = int(re.search(r"SLURM time limit ahead: stopped at step (\d+)", (run / "train.log").read_text()).group(1))
    wait_for(training(tmp_path, after=first + 10))
    slurm("scancel", "--signal=USR2", job)
    out = finish(sweep)
    assert sweep.returncode != 0, out[-3000:]
    assert "timed-out too many times" in out, out[-3000:]
    log = (run / "train.log").read_text()
    assert log.count("resume=auto: continuing from") == 1, log[-3000:]  # started twice: requeued once
    stops = [int(s) for s in re.findall(r"SLURM time limit ahead: stopped at step (\d+)", log)]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert len(stops) == 2 and stops[0] < stops[1] == ckpt["global_step"] < 200 * 21, log[-3000:]  # saved both times
    steps = train_steps(run)
    assert len(steps) == len(set(steps)) and steps == sorted(steps)  # one history
