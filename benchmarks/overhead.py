"""Framework overhead of `model=vae` on MNIST against a hand-written PyTorch loop, in two rows.

1. **The default user path, as whole processes.** `python -m lightning_ae` with the command below (default
   callbacks, progress bar, CSV logger, validation each epoch, test on the best checkpoint; evaluation suite
   off) against `benchmarks/plain_vae.py`, the same network and data in a hand-written loop (per epoch a
   training pass, a validation pass and a checkpoint, then a test pass). Pairs alternate their order
   (F P, P F, ...) so the machine's drift hits both sides. Per side: median whole-process wall time,
   steady-state epoch time (median of the intervals between epoch ends, the first epoch excluded; the
   framework's stamps come from `benchmarks/epoch_clock.py`, added by a `+callbacks` override),
   time-to-first-step (launch to the first training batch) and the test −ELBO (they must agree); beside the
   wall times, CPU seconds (of the process, and per epoch), the steadier figure on a shared machine.
1b. **Lockstep.** The same two processes launched together and taking turns (`benchmarks/turns.py`): start-up,
   each epoch (training, validation, its checkpoints), then testing and exit. Only one works at a time, so each
   phase is timed right beside its counterpart and the machine's drift between minutes cancels. Per run the
   ratio of the sums of the turns (the whole process), of the start-ups and of each epoch pair (epochs 2..).
   A null control runs the plain loop against itself the same way: how far the noise alone moves the medians.
2. **Stripped, in one process**: steps/s of the framework's training steps with callbacks, progress bar and
   validation off, against the plain loop's, after `--warmup` steps.

Targets (issue 14): whole process ≤ 1.15×, steady-state epoch ≤ 1.05× the plain loop's. For the reported
numbers, on an otherwise idle machine:

    .venv/bin/python benchmarks/overhead.py --data-dir ../shared/data --pairs 3 --steps 300
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import StepTimer, clocks, compose, rates  # noqa: E402
from benchmarks.plain_vae import negative_elbo  # noqa: E402

USER_RUN = ["model=vae", "data=mnist", "model.latent_dim=20", "model.net.hidden=[512,512]", "data.batch_size=128"]
EVALUATION_OFF = "evaluation.enabled=false"
OUT = ROOT / "outputs" / "benchmarks" / "overhead"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def launch(cmd: list[str]) -> tuple[float, dict, str]:
    """Run `cmd` from the repository root: (launch time, {wall, cpu} seconds, stdout). Its stderr goes to a file."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "stderr.log", "a") as err:
        t0, cpu0 = time.time(), children_cpu()
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        seconds = {"wall": time.time() - t0, "cpu": children_cpu() - cpu0}
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed (exit {done.returncode}); see {OUT / 'stderr.log'}")
    return t0, seconds, done.stdout


def median_epoch(stamps: list[float]) -> float:
    """Median interval between epoch ends: epochs 2.. (the first, with its warm-up, is excluded)."""
    return statistics.median(b - a for a, b in zip(stamps[:-1], stamps[1:]))


def summary(t0: float, seconds: dict, stamps: dict, test_loss: float) -> dict:
    return {**seconds, "epoch": median_epoch(stamps["epoch_ends"]), "epoch_cpu": median_epoch(stamps["epoch_cpu"]),
            "first_step": stamps["first_step"] - t0, "test_loss": test_loss}


def framework_process(args, k: int) -> dict:
    run_dir = OUT / f"framework_{k}"
    shutil.rmtree(run_dir, ignore_errors=True)
    clock = run_dir / "clock.json"
    t0, seconds, _ = launch([sys.executable, "-m", "lightning_ae", *USER_RUN, f"trainer.max_epochs={args.epochs}", EVALUATION_OFF,
                          f"paths.data_dir={args.data_dir}", f"hydra.run.dir={run_dir}",
                          "+callbacks.clock._target_=benchmarks.epoch_clock.EpochClock", f"+callbacks.clock.path={clock}"])
    test_loss = json.loads((run_dir / "metrics.json").read_text())["test/loss"]
    return summary(t0, seconds, json.loads(clock.read_text()), test_loss)


def plain_process(args, k: int) -> dict:
    t0, seconds, stdout = launch([sys.executable, str(ROOT / "benchmarks" / "plain_vae.py"), "--data-dir", args.data_dir,
                               "--epochs", str(args.epochs), "--out", str(OUT / f"plain_{k}")])
    r = json.loads(stdout.strip().splitlines()[-1])
    return summary(t0, seconds, r, r["test_loss"])


def whole_processes(args) -> None:
    print(f"row 1, whole processes: python -m lightning_ae {' '.join(USER_RUN)} trainer.max_epochs={args.epochs} "
          f"{EVALUATION_OFF}  vs  benchmarks/plain_vae.py", flush=True)
    fw, pl_ = [], []
    for k in range(args.pairs):
        sides = [("framework", lambda: framework_process(args, k)), ("plain", lambda: plain_process(args, k))]
        for name, run in sides if k % 2 == 0 else sides[::-1]:
            r = run()
            (fw if name == "framework" else pl_).append(r)
            print(f"  pair {k} {name:9s}: wall {r['wall']:6.1f} s (CPU {r['cpu']:6.1f} s), epoch {r['epoch']:5.2f} s "
                  f"(CPU {r['epoch_cpu']:5.2f} s), first step after {r['first_step']:5.1f} s, "
                  f"test -ELBO {r['test_loss']:.2f}", flush=True)
    print("  medians                    framework   plain   ratio  (median of the pairs' ratios, range)  target")
    for key, label, target in (("wall", "whole process, wall s", "≤ 1.15"), ("cpu", "whole process, CPU s ", ""),
                               ("epoch", "steady epoch, wall s ", "≤ 1.05"), ("epoch_cpu", "steady epoch, CPU s  ", ""),
                               ("first_step", "first step after s   ", ""), ("test_loss", "test -ELBO           ", "agree")):
        a, b = statistics.median(r[key] for r in fw), statistics.median(r[key] for r in pl_)
        paired = [f[key] / p[key] for f, p in zip(fw, pl_)]  # each pair ran back to back: drift cancels
        print(f"  {label}  {a:9.2f} {b:7.2f}   {a / b:5.3f}  ({statistics.median(paired):5.3f}, "
              f"{min(paired):5.3f}-{max(paired):5.3f})  {target}")


def lockstep(args) -> None:
    """Row 1b: the two processes of row 1 launched together and taking turns phase by phase (benchmarks/turns.py):
    start-up, each epoch, the rest. Per run: the ratio of the sums of the turns (the whole process without the
    drift between minutes), of the start-ups, and of each epoch pair (epochs 2..). Then the same with the plain
    loop on both sides, a null control: how far from 1 the machine's noise alone moves these medians."""
    from benchmarks.turns import SIDES, run_in_lockstep

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def plain(k: int) -> list[str]:
        return [str(ROOT / "benchmarks" / "plain_vae.py"), "--data-dir", args.data_dir, "--epochs", str(args.epochs),
                "--out", str(OUT / f"plain_lockstep_{k}")]

    def framework(k: int) -> list[str]:
        run_dir = OUT / f"lockstep_{k}"
        shutil.rmtree(run_dir, ignore_errors=True)
        return ["-m", "lightning_ae", *USER_RUN, f"trainer.max_epochs={args.epochs}", EVALUATION_OFF,
                f"paths.data_dir={args.data_dir}", f"hydra.run.dir={run_dir}",
                "+callbacks.clock._target_=benchmarks.epoch_clock.EpochClock", f"+callbacks.clock.path={run_dir / 'clock.json'}"]

    for title, runs, first_side in (("framework against the plain loop", args.lockstep_runs, framework),
                                    ("null control: the plain loop against itself", args.control_runs, plain)):
        if not runs:
            continue
        print(f"row 1b, lockstep, {title} ({args.epochs} epochs), launched together and taking turns: start-up, each "
              "epoch (training, validation, checkpoints), then testing and exit", flush=True)
        whole, start, epochs = [], [], []
        with open(OUT / "stderr.log", "a") as err:
            for k in range(runs):
                spans = run_in_lockstep({"framework": first_side(k), "plain": plain(k + 100)}, OUT / "turns",
                                        first=SIDES[k % 2], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
                f, p = ([b - a for a, b in spans[side]] for side in SIDES)
                assert len(f) == len(p) == args.epochs + 2, (f, p)
                whole.append(sum(f) / sum(p))
                start.append(f[0] / p[0])
                epochs += [a / b for a, b in zip(f[2:-1], p[2:-1])]  # epochs 2..: the first warms up
                print(f"  run {k}: whole {sum(f):.1f} / {sum(p):.1f} s = {whole[-1]:.3f}; start-up {f[0]:.2f} / "
                      f"{p[0]:.2f} s; epochs {' '.join(f'{a:.2f}/{b:.2f}' for a, b in zip(f[1:-1], p[1:-1]))} s; rest "
                      f"{f[-1]:.2f} / {p[-1]:.2f} s", flush=True)
        for label, rs, target in (("whole process", whole, "≤ 1.15"), ("steady epoch", epochs, "≤ 1.05"),
                                  ("start-up", start, "")):
            print(f"  {label}: median ratio {statistics.median(rs):.3f} of {len(rs)} ({min(rs):.3f}-{max(rs):.3f})"
                  f"  {target if first_side is framework else ''}")


def stripped_config(args):
    return compose([*USER_RUN, f"paths.data_dir={args.data_dir}", "trainer.accelerator=cpu", "logger=csv",
                    "callbacks=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
                    f"trainer.max_steps={args.warmup + args.steps}", "trainer.limit_val_batches=0",
                    "trainer.num_sanity_val_steps=0", "test=false"], output_dir=str(OUT / "stripped"))


def framework_steps(cfg, dm, args) -> tuple[float, float]:
    from hydra.utils import instantiate

    timer = StepTimer(args.warmup)
    trainer = instantiate(cfg.trainer, callbacks=[timer], logger=[instantiate(cfg.logger.csv)])
    trainer.fit(instantiate(cfg.model), datamodule=dm)
    return timer.steps_per_second()


def plain_steps(cfg, dm, args) -> tuple[float, float]:
    """The plain loop in this process: the model's encoder/decoder, the same data tensors, loss and Adam."""
    from hydra.utils import instantiate

    model = instantiate(cfg.model)
    enc, dec = model.encoder, model.decoder
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=cfg.optimizer.lr)
    x_all = dm.splits["train"][0]
    order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(0))
    bs, t0 = cfg.data.batch_size, None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            t0 = clocks()
        x = x_all[order[(step * bs) % (len(order) - bs) :][:bs]].float().div_(255.0)
        loss = negative_elbo(enc, dec, x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return rates(args.steps, t0, clocks())


def stripped(args) -> None:
    from hydra.utils import instantiate

    cfg = stripped_config(args)
    dm = instantiate(cfg.data)
    dm.setup()
    ratios = {"wall": [], "cpu": []}
    print(f"row 2, stripped (no callbacks, progress bar or validation), {args.steps} steps after {args.warmup}:",
          flush=True)
    for k in range(args.pairs):
        torch.manual_seed(k)
        a = framework_steps(cfg, dm, args)
        torch.manual_seed(k)
        b = plain_steps(cfg, dm, args)
        ratios["wall"].append(a[0] / b[0])
        ratios["cpu"].append(a[1] / b[1])
        print(f"  pair {k}: framework {a[0]:.1f} steps/s ({a[1]:.1f} per CPU s), plain {b[0]:.1f} ({b[1]:.1f}), "
              f"ratio {a[0] / b[0]:.3f} wall, {a[1] / b[1]:.3f} CPU", flush=True)
    for clock, rs in ratios.items():
        print(f"  steps/s ratio framework/plain, {clock}: median {statistics.median(rs):.3f} "
              f"(min {min(rs):.3f}, max {max(rs):.3f})")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5, help="row 1: epochs per run (at least 3: the first is excluded)")
    p.add_argument("--steps", type=int, default=300, help="row 2: timed steps per run")
    p.add_argument("--warmup", type=int, default=20, help="row 2: untimed steps first")
    p.add_argument("--lockstep-runs", type=int, default=4, help="row 1b: runs of the two processes in lockstep")
    p.add_argument("--control-runs", type=int, default=2, help="row 1b: runs of the plain loop against itself")
    p.add_argument("--rows", default="process,lockstep,stripped", help="which rows: process, lockstep, stripped")
    args = p.parse_args()
    args.data_dir = str(Path(args.data_dir).resolve())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{date.today()}", flush=True)
    if "process" in args.rows:
        whole_processes(args)
    if "lockstep" in args.rows:
        lockstep(args)
    if "stripped" in args.rows:
        stripped(args)


if __name__ == "__main__":
    main()
