"""Equal compute, measured on a quiet machine (issue 21, protocol item 3): each recipe's CPU-seconds per training
batch, so that a CPU budget becomes a number of batches fixed before the long runs, which may then share the machine.

    OMP_NUM_THREADS=1 python benchmarks/calibrate.py --rows vaegan,vaegan_vae   # nothing else running

How a recipe's cost c (CPU-seconds per batch, one thread) is measured: its training command (the row's recipe, no
validation, no test) runs for `--short` and `--long` batches, and c = (fit CPU(long) − fit CPU(short)) / (long −
short), so start-up, data loading and the checkpoint written at the end cancel. `--repeats` rounds run, each
one such pair of every row given, in turn; each row's median is kept and its spread recorded. This machine's speed
drifts by up to ±15 % between minutes, so two rows compared for equal compute are calibrated together: in each
round both meet the same drift, and the median of their per-round cost ratios is what sets the budget. Quiet is checked, not assumed: /proc/stat gives every core's busy time over
each run, and what the run itself did not use is other load; above `QUIET` (5 % of one core) the measurement is
refused with one `error:` line and nothing is written. Results go to `benchmarks/calibration.json`, one entry a row,
with the commit and computation fingerprint they were measured at (a calibration from other code is not used).

How report.py uses it (`budget_batches`): a row's CPU budget, its own `cpu_seconds` or, with `cpu_budget_from`, the
other row's epochs × batches per epoch × that row's c, is divided by the row's own c (when the two were calibrated
together: times the median of their per-round cost ratios instead): the row trains that many
batches (`trainer.max_steps`), over as many epochs as they fill (so a schedule over `trainer.max_epochs` ends at the
budget). Only a recipe that takes one optimizer step a batch can be held to batches that way; the others (VAE-GAN,
ALAE: several optimizers) are the side whose epochs are fixed.

A recipe whose cost per batch depends on which optimizer steps each batch takes (VAE-GAN's equilibrium rule lets
the decoder or the discriminator skip its step) is calibrated three times (`OPTIONAL_STEPS`): every step taken
(`cpu_s_per_batch`), and each optional step never taken; the differences are that step's cost (`step_costs`). Its
cost in a run is then `cpu_s_per_batch − Σ (1 − share) × step_cost`, with each step's share of batches read from
the run's own log (`train/<step>_steps_epoch`, report.step_shares), so the baseline gets the compute the run spent.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CALIBRATION_JSON = ROOT / "benchmarks" / "calibration.json"
QUIET = 0.05  # other load allowed during a measurement, in cores
# Recipes with optional optimizer steps (see the module docstring): the overrides of each calibration. VAE-GAN's rule
# steps the discriminator while min(costs) >= equilibrium − margin, the decoder while max(costs) <= equilibrium +
# margin: equilibrium −1 never steps the decoder, 100 never the discriminator (costs are cross-entropies in (0, 100)).
OPTIONAL_STEPS = {"vaegan": {"all": ["model.margin=null"],
                             "decoder": ["model.equilibrium=-1", "model.margin=0"],
                             "discriminator": ["model.equilibrium=100", "model.margin=0"]}}


class BatchClock(pl.Callback):
    """Writes, when training ends, this process's CPU-seconds since fit start, the batches trained, the optimizer
    steps taken, the batches in a full training epoch and torch's thread count, as one JSON object at `path`."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._start = 0.0

    def on_fit_start(self, trainer, pl_module):
        self._start = time.process_time()

    def on_train_end(self, trainer, pl_module):
        import torch

        dm = trainer.datamodule
        images = len(dm.splits["train"][0])
        facts = {"cpu_seconds": time.process_time() - self._start, "batches": dm.trained["batches"],
                 "steps": trainer.global_step, "batches_per_epoch": images // dm.batch_size,
                 "threads": torch.get_num_threads()}
        self.path.write_text(json.dumps(facts))


def busy_seconds() -> float:
    """Every core's busy time since boot (/proc/stat: user, nice, system, irq, softirq), in seconds."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def fit_cost(row, batches: int, data_dir: str, workdir: Path, overrides: tuple[str, ...] = ()) -> dict:
    """One run of the row's recipe for `batches` training batches: the BatchClock facts, plus `other_load` (cores
    busy with anything but this run, averaged over it)."""
    out = Path(tempfile.mkdtemp(prefix=f"{row.name}_{batches}_", dir=workdir))
    clock = out / "clock.json"
    cmd = [sys.executable, "-m", "lightning_ae", *row.train, *overrides,
           f"paths.data_dir={data_dir}", "test=false", "logger=csv", "seed=0", "trainer.max_epochs=1",
           f"trainer.limit_train_batches={batches}", "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false",
           "+callbacks.clock._target_=benchmarks.calibrate.BatchClock", f"+callbacks.clock.path={clock}",
           f"hydra.run.dir={out}"]
    own, busy, wall = resource.getrusage(resource.RUSAGE_SELF), busy_seconds(), time.perf_counter()
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - wall
    used = sum(getattr(after, k) - getattr(before, k) for before, after in
               ((own, resource.getrusage(resource.RUSAGE_SELF)), (child, resource.getrusage(resource.RUSAGE_CHILDREN)))
               for k in ("ru_utime", "ru_stime"))
    if done.returncode != 0 or not clock.is_file():
        tail = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise SystemExit(f"error: calibrating {row.name} failed: {tail[0][:200]}")
    return json.loads(clock.read_text()) | {"other_load": max(0.0, busy_seconds() - busy - used) / wall}


def per_batch(short: dict, long: dict) -> float:
    """CPU-seconds per batch from two runs of different lengths (fixed costs cancel)."""
    return (long["cpu_seconds"] - short["cpu_seconds"]) / (long["batches"] - short["batches"])


def calibrate(rows, short: int, long: int, repeats: int, data_dir: str, run=fit_cost) -> dict[str, dict]:
    """The rows' calibration entries (see the module docstring), measured in rounds: each round runs one short/long
    pair of every row (and of each of its `OPTIONAL_STEPS` variants) in turn, so that a drift in the machine's speed
    reaches the rows alike; each entry keeps its per-round costs (`rounds`) and the calibration's `session`, and
    report.batch_budget takes the median of the per-round ratios of two rows calibrated together. SystemExit with
    an `error:` line when the machine was not quiet."""
    variants = {row.name: OPTIONAL_STEPS.get(row.name, {"all": []}) for row in rows}
    costs = {row.name: {name: [] for name in variants[row.name]} for row in rows}
    loads, last = {row.name: [] for row in rows}, {}
    session = time.strftime("%Y-%m-%dT%H:%M:%S")
    with tempfile.TemporaryDirectory(prefix="calibrate_") as tmp:
        for _ in range(repeats):
            for row in rows:
                for name, overrides in variants[row.name].items():
                    pair = [run(row, n, data_dir, Path(tmp), tuple(overrides)) for n in (short, long)]
                    loads[row.name] += [p["other_load"] for p in pair]
                    if max(loads[row.name]) > QUIET:
                        raise SystemExit(f"error: the machine was not quiet while calibrating {row.name} (other load "
                                         f"{max(loads[row.name]):.2f} cores > {QUIET}); stop other jobs and run it again")
                    costs[row.name][name].append(per_batch(*pair))
                    if name == "all":
                        last[row.name] = pair[1]
    entries = {}
    for row in rows:
        got, full = costs[row.name], last[row.name]
        median = {name: statistics.median(c) for name, c in got.items()}
        entries[row.name] = {
            "cpu_s_per_batch": median["all"], "spread": [min(got["all"]), max(got["all"])], "rounds": got,
            "session": session, "calibrated_with": [r.name for r in rows], "repeats": repeats,
            "batches": [short, long], "steps_per_batch": full["steps"] / full["batches"],
            "batches_per_epoch": full["batches_per_epoch"], "threads": full["threads"],
            "other_load_max": max(loads[row.name]), "overrides": variants[row.name]}
        if len(got) > 1:
            entries[row.name]["step_costs"] = {name: median["all"] - m for name, m in median.items() if name != "all"}
    return entries


def load() -> dict:
    return json.loads(CALIBRATION_JSON.read_text()) if CALIBRATION_JSON.is_file() else {}


def main(argv=None) -> None:
    from benchmarks import report
    from benchmarks.protocol import computation

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", required=True, help="comma-separated row names of the cpu budget")
    p.add_argument("--short", type=int, default=50)
    p.add_argument("--long", type=int, default=250)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data-dir", default=os.environ.get("LIGHTNING_AE_DATA", str(ROOT.parent / "shared" / "data")))
    args = p.parse_args(argv)
    rows = {r.name: r for r in report.ROWS["cpu"]}
    unknown = [n for n in args.rows.split(",") if n not in rows]
    if unknown or not args.short < args.long:
        sys.exit(f"error: unknown rows {', '.join(unknown)}" if unknown else "error: --short must be below --long")
    if os.environ.get("OMP_NUM_THREADS") != "1":
        sys.exit("error: set OMP_NUM_THREADS=1: the budgets are one-thread CPU-seconds")
    here = report.commit()
    if here.endswith("+dirty"):
        sys.exit("error: the code has uncommitted changes; commit first, so the calibration names its code")
    names = args.rows.split(",")
    entries = calibrate([rows[n] for n in names], args.short, args.long, args.repeats,
                        str(Path(args.data_dir).resolve()))
    table = load()
    for name, entry in entries.items():
        table[name] = entry | {"commit": here, "computation": computation(here), "machine": report.machine(),
                               "date": time.strftime("%Y-%m-%d")}
        print(f"[calibrate] {name}: {entry['cpu_s_per_batch']:.4g} CPU-s/batch "
              f"(spread {entry['spread'][0]:.4g}–{entry['spread'][1]:.4g}, other load ≤ {entry['other_load_max']:.2f} "
              f"cores, {entry['batches_per_epoch']} batches/epoch)", flush=True)
    CALIBRATION_JSON.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
