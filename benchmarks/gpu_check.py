"""The GPU check: everything this project can only show on a GPU, in one run of at most 8 minutes.

    make gpu-check                                  # = python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --dry-run        # the plan, without running anything (no GPU needed)

1. `pytest -m gpu`: the GPU-marked tests.
2. Every variant for a few batches under `trainer.precision=16-mixed` and `bf16-mixed` (digits; vqvae_prior on
   the checkpoint of the vqvae run before it).
3. `trainer=ddp` (two processes, NCCL, synchronised batch norm) where the machine has two GPUs.
4. Speed: the default VAE user run (`model=vae data=mnist`, fused steps and the data set resident on the GPU, as
   by default) against `benchmarks/plain_vae.py --device cuda`, the same work in a hand-written loop, as whole
   processes one after the other: wall time and the median epoch (epochs 2..), and the test -ELBO of each.

Each step runs as its own process with what is left of `--budget-s`; a step that does not fit is recorded as
skipped. Results: `--out` (benchmarks/gpu_check.json) and a Markdown table beside it (gpu_check.md), which the
README's speed section quotes. Without a CUDA GPU it prints one line and exits with status 1.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overhead import EVALUATION_OFF, USER_RUN  # noqa: E402  the run overhead.py times on CPUs
from lightning_ae import config_options  # noqa: E402

VARIANTS = sorted(config_options("model"), key=lambda m: m == "vqvae_prior")  # after vqvae: it needs its checkpoint
PRECISIONS = ["16-mixed", "bf16-mixed"]
QUIET = ["trainer.enable_progress_bar=false", EVALUATION_OFF]
FEW_BATCHES = ["trainer=gpu", "trainer.max_epochs=1", *QUIET]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "gpu_check.json")
    p.add_argument("--work", type=Path, default=ROOT / "outputs" / "gpu_check", help="run directories go here")
    p.add_argument("--data-dir", default=os.environ.get("LIGHTNING_AE_DATA", str(ROOT.parent / "shared" / "data")),
                   help="holds MNIST/raw, for the speed table")
    p.add_argument("--batches", type=int, default=5, help="training batches per variant and precision")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each side of the speed table")
    p.add_argument("--budget-s", type=float, default=480.0, help="the whole check's time limit (8 minutes)")
    p.add_argument("--skip", nargs="*", default=[], choices=["pytest", "precision", "ddp", "speed"])
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit; needs no GPU")
    p.add_argument("--gpus", type=int, default=None, help="with --dry-run: plan for this many GPUs")
    return p.parse_args(argv)


def lightning_ae(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "lightning_ae", *args]


def plan(args: argparse.Namespace, gpus: int) -> list[dict]:
    """The steps, in order: {name, kind, cmd}; `cmd` runs from the repository root."""
    steps = []
    if "pytest" not in args.skip:
        steps.append({"name": "pytest -m gpu", "kind": "pytest",
                      "cmd": [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"]})
    if "precision" not in args.skip:
        for precision in PRECISIONS:
            for model in VARIANTS:
                run_dir = args.work / precision / model
                extra = [f"model.vqvae_ckpt={args.work / precision / 'vqvae' / 'checkpoints' / 'last.ckpt'}"] \
                    if model == "vqvae_prior" else []
                steps.append({"name": f"{model} {precision}", "kind": "precision", "model": model,
                              "precision": precision, "run_dir": str(run_dir),
                              "cmd": lightning_ae([f"model={model}", *FEW_BATCHES, f"trainer.precision={precision}",
                                                   f"trainer.limit_train_batches={args.batches}",
                                                   "trainer.limit_val_batches=2", "trainer.limit_test_batches=2",
                                                   *extra, f"hydra.run.dir={run_dir}"])})
    if "ddp" not in args.skip and gpus >= 2:
        run_dir = args.work / "ddp"
        steps.append({"name": "trainer=ddp, two GPUs", "kind": "ddp", "run_dir": str(run_dir),
                      "cmd": lightning_ae(["model=vae", "trainer=ddp", "trainer.accelerator=gpu", "trainer.max_epochs=2",
                                           *QUIET, f"hydra.run.dir={run_dir}"])})
    if "speed" not in args.skip:
        clock = args.work / "speed" / "framework_clock.json"
        run_dir = args.work / "speed" / "framework"
        steps.append({"name": "speed: framework", "kind": "speed", "side": "framework", "clock": str(clock),
                      "run_dir": str(run_dir),
                      "cmd": lightning_ae([*USER_RUN, "trainer=gpu", *QUIET, f"paths.data_dir={args.data_dir}",
                                           f"trainer.max_epochs={args.epochs}",
                                           "+callbacks.clock._target_=benchmarks.epoch_clock.EpochClock",
                                           f"+callbacks.clock.path={clock}", f"hydra.run.dir={run_dir}"])})
        steps.append({"name": "speed: plain loop", "kind": "speed", "side": "plain",
                      "cmd": [sys.executable, str(ROOT / "benchmarks" / "plain_vae.py"), "--device", "cuda",
                              "--data-dir", args.data_dir, "--epochs", str(args.epochs),
                              "--out", str(args.work / "speed" / "plain")]})
    return steps


def median_epoch(stamps: list[float]) -> float | None:
    gaps = [b - a for a, b in zip(stamps[:-1], stamps[1:])]
    return statistics.median(gaps) if gaps else None


def speed_table(framework: dict, plain: dict) -> dict:
    """Ratios framework / plain of the whole-process wall time and the median epoch (epochs 2..)."""
    out = {"framework": framework, "plain": plain}
    for key in ("wall", "epoch"):
        if framework.get(key) and plain.get(key):
            out[f"{key}_ratio"] = framework[key] / plain[key]
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"# GPU check ({results['date']}, {m['gpu']} x{m['gpus']}, torch {m['torch']}, commit {results['commit']})",
             "", f"`make gpu-check`: {results['seconds']:.0f} s.", ""]
    if results.get("pytest"):
        lines += [f"**pytest -m gpu**: {results['pytest']['summary']} (exit {results['pytest']['rc']})", ""]
    if results.get("precision"):
        lines += ["| model | 16-mixed | bf16-mixed |", "|---|---|---|"]
        by = {(r["model"], r["precision"]): r for r in results["precision"]}
        for model in VARIANTS:
            cells = []
            for precision in PRECISIONS:
                r = by.get((model, precision))
                cells.append("not run" if r is None else r["status"] if r["status"] != "ok" else
                             f"ok, test/loss {r['test_loss']:.4g}" if r.get("test_loss") is not None else "ok")
            lines.append(f"| {model} | {' | '.join(cells)} |")
        lines.append("")
    if results.get("ddp"):
        lines += [f"**trainer=ddp** (two GPUs): {results['ddp']['status']}", ""]
    speed = results.get("speed")
    if speed:
        f, p = speed["framework"], speed["plain"]
        lines += ["| `model=vae data=mnist`, batch 128 | whole process (s) | median epoch (s) | test -ELBO |",
                  "|---|---|---|---|",
                  f"| framework (fused steps, resident data) | {f.get('wall', 0):.2f} | {f.get('epoch') or 0:.3f} | "
                  f"{f.get('test_loss', float('nan')):.2f} |",
                  f"| plain loop (`benchmarks/plain_vae.py --device cuda`) | {p.get('wall', 0):.2f} | "
                  f"{p.get('epoch') or 0:.3f} | {p.get('test_loss', float('nan')):.2f} |",
                  f"| ratio | {speed.get('wall_ratio', float('nan')):.2f} | {speed.get('epoch_ratio', float('nan')):.2f} | |",
                  ""]
    return "\n".join(lines)


def run_step(step: dict, timeout: float) -> dict:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.time()
    try:
        done = subprocess.run(step["cmd"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", str(e.stdout or ""), str(e.stderr or "")
    return {"rc": rc, "seconds": time.time() - t0, "stdout": out, "stderr": err}


def record(step: dict, res: dict, results: dict) -> None:
    ok = res["rc"] == 0
    status = "ok" if ok else f"failed ({res['rc']}): {(res['stderr'].strip().splitlines() or [''])[-1][:200]}"
    if step["kind"] == "pytest":
        tail = [line for line in res["stdout"].splitlines() if line.strip()][-1:] or [""]
        results["pytest"] = {"rc": res["rc"], "summary": tail[0].strip("= "), "seconds": res["seconds"]}
    elif step["kind"] in ("precision", "ddp"):
        metrics = Path(step["run_dir"]) / "metrics.json"
        loss = json.loads(metrics.read_text()).get("test/loss") if ok and metrics.exists() else None
        row = {"status": status, "test_loss": loss, "seconds": res["seconds"]}
        if step["kind"] == "ddp":
            results["ddp"] = row
        else:
            results.setdefault("precision", []).append({"model": step["model"], "precision": step["precision"], **row})
    elif step["side"] == "framework":
        clock = json.loads(Path(step["clock"]).read_text()) if ok else {}
        metrics = Path(step["run_dir"]) / "metrics.json"
        results.setdefault("_speed", {})["framework"] = {
            "status": status, "wall": res["seconds"], "epoch": median_epoch(clock.get("epoch_ends", [])),
            "test_loss": json.loads(metrics.read_text()).get("test/loss") if ok else None}
    else:
        stamps = json.loads(res["stdout"].strip().splitlines()[-1]) if ok else {}
        results.setdefault("_speed", {})["plain"] = {
            "status": status, "wall": res["seconds"], "epoch": median_epoch(stamps.get("epoch_ends", [])),
            "test_loss": stamps.get("test_loss")}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    gpus = args.gpus if args.dry_run and args.gpus is not None else torch.cuda.device_count()
    steps = plan(args, gpus)
    if args.dry_run:
        for step in steps:
            print(f"{step['name']}: {' '.join(map(str, step['cmd']))}")
        return 0
    if gpus == 0:
        print("gpu-check: no CUDA GPU found (torch.cuda.device_count() is 0); nothing was run", file=sys.stderr)
        return 1
    if "speed" not in args.skip and not (Path(args.data_dir) / "MNIST" / "raw").is_dir():
        print(f"gpu-check: no MNIST in {args.data_dir}/MNIST/raw: the speed table is skipped (--data-dir=...)")
        steps = [s for s in steps if s["kind"] != "speed"]
    start = time.time()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    results = {"date": date.today().isoformat(), "commit": commit.strip() or "unknown",
               "machine": {"gpu": torch.cuda.get_device_name(0), "gpus": gpus, "torch": torch.__version__,
                           "cuda": torch.version.cuda, "python": platform.python_version()}, "skipped": []}
    for step in steps:
        left = args.budget_s - (time.time() - start)
        if left < 20:
            results["skipped"].append(step["name"])
            continue
        print(f"gpu-check: {step['name']} ...", flush=True)
        res = run_step(step, timeout=left)
        record(step, res, results)
        print(f"gpu-check: {step['name']}: exit {res['rc']}, {res['seconds']:.1f} s", flush=True)
    sides = results.pop("_speed", {})
    if "framework" in sides and "plain" in sides:
        results["speed"] = speed_table(sides["framework"], sides["plain"])
    results["seconds"] = time.time() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results) + "\n")
    print(f"gpu-check: {args.out} and {args.out.with_suffix('.md')} written in {results['seconds']:.0f} s")
    failed = [r for r in results.get("precision", []) if r["status"] != "ok"]
    bad = failed or (results.get("pytest") or {}).get("rc", 0) != 0 or results["skipped"] or \
        (results.get("ddp") or {}).get("status", "ok") != "ok"
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
