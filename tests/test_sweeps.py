"""Sweeps that outlive a bad job: every job checked before the first starts, a failing job recorded in the
summary while the others run, Optuna told of a failed trial (lightning_ae/sweep.py, lightning_ae/cli.py)."""
from __future__ import annotations

import csv

import pytest

from tests.conftest import run_cli

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "evaluation.enabled=false"]


def test_a_bad_job_of_a_sweep_is_one_line_before_any_job_runs(tmp_path):
    res = run_cli(["-m", "model=ae,vae", "optimizer.lr=1e-3,-1"], tmp_path)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "error: sweep job 1 (model=ae optimizer.lr=-1): optimizer: Invalid learning rate: -1; change optimizer.* "
        "(see conf/optimizer/); no job was run"]
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_job_failing_at_run_time_is_marked_failed_and_the_others_run(tmp_path):
    """Job 1 asks for a 1e9-wide latent layer: its build fails (the allocation), after job 0 and before job 2."""
    res = run_cli(["-m", "model.latent_dim=16,1000000000,8", "trainer.fast_dev_run=true", *QUIET], tmp_path)
    assert res.returncode == 1, res.stderr[-3000:]  # after every job ran: the sweep's status says one failed
    assert res.stderr.strip().splitlines()[-1] == ("error: 1 sweep job(s) failed (1): their errors are in "
                                                   "summary.md and each job's error.txt")
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    with open(sweep / "summary.csv", newline="") as fh:
        rows = {r["job"]: r for r in csv.DictReader(fh)}
    assert [rows[j]["status"] for j in ("0", "1", "2")] == ["ok", "failed", "ok"]
    assert rows["1"]["error"].startswith("cannot build `model` from the config: RuntimeError: ") and \
        "allocate" in rows["1"]["error"]
    assert "model.latent_dim=1000000000" in rows["1"]["overrides"]
    assert rows["0"]["error"] == "" and float(rows["2"]["test/loss"]) > 0
    table = (sweep / "summary.md").read_text()
    assert "| 1 | model.latent_dim=1000000000" in table and "| failed | cannot build" in table


@pytest.mark.slow
def test_optuna_records_a_failed_trial_and_goes_on(tmp_path):
    """The search draws the learning rate from [-1e-3, 1e-3]: the trials with a negative one fail (torch refuses
    it), the study keeps the others."""
    import yaml

    res = run_cli(["-m", "hparams_search=vae_optuna", "hydra.sweeper.n_trials=4", "trainer.fast_dev_run=true",
                   "optimizer.lr=interval(-0.001,0.001)", "logger=none", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    failed = [j for j in jobs if (j / "error.txt").exists()]
    assert len(jobs) == 4 and 0 < len(failed) < 4
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_params"]["optimizer.lr"] > 0
    assert all("Invalid learning rate" in (j / "error.txt").read_text() for j in failed)


@pytest.mark.slow
def test_an_optuna_search_whose_every_trial_fails_is_one_line(tmp_path):
    """Every learning rate drawn is negative: no trial scores, so the sweeper has no best trial to report. The
    search ends with status 1 and one line, and summary.md lists the failed trials."""
    res = run_cli(["-m", "hparams_search=vae_optuna", "hydra.sweeper.n_trials=2", "trainer.fast_dev_run=true",
                   "optimizer.lr=interval(-0.002,-0.001)", "logger=none", *QUIET], tmp_path)
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: all 2 trials of the Optuna search failed, so it has no best trial; their errors are in "
        f"{sweep.resolve() / 'summary.md'} and each trial's error.txt")
    table = (sweep / "summary.md").read_text()
    assert table.count("| failed | optimizer: Invalid learning rate") == 2
    assert not (sweep / "optimization_results.yaml").exists()
