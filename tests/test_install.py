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

    def tree(root: Path, pattern: str) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob(pattern) if "__pycache__" not in p.parts}

    assert tree(site / "lightning_ae" / "conf", "*.yaml") == tree(ROOT / "conf", "*.yaml")
    for package in ("lightning_ae", "datamodules"):  # every sub-package listed in pyproject.toml
        missing = {f for f in tree(ROOT / package, "*.py") if not f.startswith("conf/")} - tree(site / package, "*.py")
        assert not missing, f"add their packages to pyproject.toml: {sorted(missing)}"
    where = run("-c", "import lightning_ae.conf, datamodules; print(lightning_ae.conf.__file__); print(datamodules.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    shown = run("-m", "lightning_ae", "model=vae", "data=lines", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    assert "lightning_ae.models.vae.VAE" in shown.stdout and "LinesDataModule" in shown.stdout
    trained = run("-m", "lightning_ae", "trainer.fast_dev_run=true", "trainer.enable_progress_bar=false")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert list((elsewhere / "outputs").rglob("metrics.json"))
