"""Beyond one machine: the SLURM launcher config, and torchrun with one run directory."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from tests.conftest import only_run_dir


def test_slurm_launcher_maps_trainer_to_sbatch(tmp_path, monkeypatch):
    """Compose with hydra/launcher=slurm and render the sbatch script submitit would submit (no cluster:
    a stand-in `srun` on PATH satisfies submitit's check; nothing is submitted)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    import submitit
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "trainer=gpu", "trainer.devices=4",
                                          "trainer.num_nodes=2", "hydra.launcher.partition=gpu",
                                          "hydra.launcher.timeout_min=90", f"paths.output_dir={tmp_path}"],
                      return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    params.pop("_target_")
    for k in ("nodes", "gpus_per_node", "tasks_per_node"):  # interpolations into the job's trainer config
        params[k] = OmegaConf.select(cfg, params[k][2:-1])
    # the submitit launcher's own split into init and executor parameters
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path, slurm_max_num_timeout=params.pop("max_num_timeout"))
    params.pop("submitit_folder")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -m lightning_ae", "0")
    for line in ("--nodes=2", "--gpus-per-node=4", "--ntasks-per-node=4", "--time=90", "--partition=gpu",
                 "--signal=USR2@120"):
        assert line in script, script


@pytest.mark.slow
def test_torchrun_two_cpu_processes_one_run_dir(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "lightning_ae",
                          "model=vae", "trainer.accelerator=cpu", "trainer.max_epochs=1",
                          "trainer.enable_progress_bar=false"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    run = only_run_dir(tmp_path / "outputs")
    assert (run / "checkpoints" / "last.ckpt").exists() and (run / "train_rank1.log").exists()
    import torch

    # 1350 digits / 64 per batch / 2 ranks = 10 steps: both processes trained together
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 10


def test_slurm_time_limit_warning_becomes_the_sigterm_stop_then_goes_to_submitit(monkeypatch):
    """Under submitit, while fit runs: the time-limit signal (USR2) raises SIGTERM in this process (Lightning's stop,
    which saves last.ckpt) instead of submitit's requeue-and-wait; `forward` then hands it to submitit's handler,
    once. Outside a submitit job nothing is replaced. (The real thing: tests/test_cluster.py.)"""
    import signal

    from lightning_ae.slurm import SubmititTimeout

    calls = []
    old_usr2 = signal.signal(signal.SIGUSR2, lambda s, f: calls.append("submitit"))
    old_term = signal.signal(signal.SIGTERM, lambda s, f: calls.append("sigterm"))
    try:
        monkeypatch.delenv("SUBMITIT_FOLDER", raising=False)
        with SubmititTimeout():
            os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == ["submitit"]
        calls.clear()
        monkeypatch.setenv("SUBMITIT_FOLDER", "/tmp/submitit")
        with SubmititTimeout() as timeout:
            os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == ["sigterm"]
        timeout.forward("stopped at step 7; last.ckpt")
        timeout.forward("stopped at step 7; last.ckpt")
        assert calls == ["sigterm", "submitit"]
        os.kill(os.getpid(), signal.SIGUSR2)  # after fit: submitit's own handler again
        assert calls == ["sigterm", "submitit", "submitit"]
    finally:
        signal.signal(signal.SIGUSR2, old_usr2)
        signal.signal(signal.SIGTERM, old_term)
