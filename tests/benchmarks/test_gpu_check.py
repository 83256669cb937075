"""`make gpu-check` (benchmarks/gpu_check.py) without a GPU: one line and status 1; its plan and its report."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check
from lightning_ae import config_options

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the check would run")
def test_without_a_gpu_one_line_and_status_1(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    assert res.stdout == "" and res.stderr.splitlines() == [
        "gpu-check: no CUDA GPU found (torch.cuda.device_count() is 0); nothing was run"]
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("gpus", [1, 2])
def test_plan_every_variant_in_both_precisions_and_ddp_only_on_two_gpus(gpus, tmp_path):
    steps = gpu_check.plan(gpu_check.parse_args(["--work", str(tmp_path)]), gpus)
    names = [s["name"] for s in steps]
    assert names[0] == "pytest -m gpu" and names[-2:] == ["speed: framework", "speed: plain loop"]
    runs = {(s["model"], s["precision"]) for s in steps if s["kind"] == "precision"}
    assert runs == {(m, p) for m in config_options("model") for p in ("16-mixed", "bf16-mixed")}
    assert ("trainer=ddp, two GPUs" in names) == (gpus == 2)
    for precision in ("16-mixed", "bf16-mixed"):  # the prior trains on the checkpoint its vqvae run writes first
        order = [s["model"] for s in steps if s.get("precision") == precision]
        prior = next(s for s in steps if s.get("model") == "vqvae_prior" and s["precision"] == precision)
        assert order.index("vqvae") < order.index("vqvae_prior")
        assert f"model.vqvae_ckpt={tmp_path / precision / 'vqvae' / 'checkpoints' / 'last.ckpt'}" in prior["cmd"]
        vqvae = next(s for s in steps if s.get("model") == "vqvae" and s["precision"] == precision)
        assert f"hydra.run.dir={tmp_path / precision / 'vqvae'}" in vqvae["cmd"]
    plain = next(s for s in steps if s["name"] == "speed: plain loop")["cmd"]
    assert plain[plain.index("--device") + 1] == "cuda"
    assert gpu_check.plan(gpu_check.parse_args(["--skip", "pytest", "precision", "ddp", "speed"]), 2) == []


def test_speed_ratios_are_framework_over_plain():
    table = gpu_check.speed_table({"wall": 30.0, "epoch": 2.2}, {"wall": 25.0, "epoch": 2.0})
    assert table["wall_ratio"] == pytest.approx(1.2) and table["epoch_ratio"] == pytest.approx(1.1)
    assert gpu_check.median_epoch([10.0, 12.0, 15.0, 16.0]) == 2.0  # gaps 2, 3, 1: epochs 2.. only
