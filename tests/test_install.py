"""A plain (non-editable) install carries the configs: the app runs from any directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_install_finds_configs_from_any_directory(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "WANDB_MODE": "offline"}

    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=300)

    where = run("-c", "import lightning_ae.conf, datamodules; print(lightning_ae.conf.__file__); print(datamodules.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    shown = run("-m", "lightning_ae", "model=vae", "data=lines", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    assert "lightning_ae.models.vae.VAE" in shown.stdout and "LinesDataModule" in shown.stdout
    trained = run("-m", "lightning_ae", "trainer.fast_dev_run=true", "trainer.enable_progress_bar=false")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert list((elsewhere / "outputs").rglob("metrics.json"))
