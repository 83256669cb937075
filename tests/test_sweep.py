"""Multirun sweeps: a run directory and a W&B run per job, one group per sweep, a summary at the end;
Optuna searches through hparams_search."""
from __future__ import annotations

import pytest
import yaml

from tests.conftest import run_cli
from tests.wandb_records import summarize

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.mark.slow
def test_grid_sweep_summary_and_wandb_runs(tmp_path):
    res = run_cli(["-m", "model=ae,vae", "optimizer.lr=1e-3,3e-4", "logger=[csv,wandb]", "trainer.max_epochs=1",
                   "callbacks=none", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 4
    runs = [next((j / "wandb").glob("offline-run-*/run-*.wandb")) for j in jobs]
    records = [summarize(r) for r in runs]
    assert all("val/loss" in r["history"] for r in records)
    groups = set().union(*(r["group"] for r in records))
    assert len(groups) == 1 and sweep.name in groups.pop()  # one group per sweep
    table = (sweep / "summary.md").read_text().splitlines()
    assert len(table) == 2 + 4 and "test/loss" in table[0]
    assert any("model=vae" in line and "optimizer.lr=0.0003" in line for line in table[2:])


@pytest.mark.slow
def test_optuna_search_over_beta_and_lr(tmp_path):
    res = run_cli(["-m", "hparams_search=vae_optuna", "hydra.sweeper.n_trials=2", "trainer.fast_dev_run=true",
                   "logger=none", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"model.beta", "optimizer.lr"}
    assert 0.25 <= best["best_params"]["model.beta"] <= 4.0 and best["best_value"] < 0  # the ELBO
    assert len([p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()]) == 2
