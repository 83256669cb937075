"""ACAI vs a plain autoencoder on ACAI's lines (Berthelot et al. 2019, Table 1), at the same step budget.

Both models use the Table 1 recipe (conf/experiment/lines_paper_recipe.yaml: ACAI's official conv net and init,
depth 16, 2×2 latent grid, 64 latent units, Adam 1e-4, batch 64, fresh training lines, 5,000 test lines). ACAI (the slower of the two: a critic and a second decode per
batch) trains for `--minutes` of wall clock; the AE then trains for the same number of batches. Both are then
scored with the project's one implementation of the lines metrics (`lightning_ae.metrics.lines`) on 256
test pairs × 16 interpolation steps: mean distance (the paper prints ×10⁻³) and smoothness; lower is better.
Beside them, the median angle between each path end and its input (whether the model reconstructs lines at
all; the metrics mean little until it is a few degrees).

    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/lines.py --minutes 20   # the issue's budget
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import compose  # noqa: E402

RECIPES = {  # the Table 1 recipes: the same net, latent, fresh lines and optimizer (lines_paper_recipe.yaml)
    "acai": ["experiment=acai_lines_paper"],
    "ae": ["experiment=ae_lines_paper"],
}


def train(name: str, datamodule, max_batches: int | None, minutes: float, seed: int):
    import hydra
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True)
    model = hydra.utils.instantiate(compose(RECIPES[name]).model)
    per_batch = 1 if model.automatic_optimization else len(model.configure_optimizers()[0])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0, max_epochs=-1,
                         max_steps=-1 if max_batches is None else max_batches * per_batch,
                         max_time=None if max_batches is not None else datetime.timedelta(minutes=minutes))
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    seconds = time.perf_counter() - start
    batches = trainer.fit_loop.epoch_loop.batch_progress.total.completed
    return model, {"batches": batches, "optimizer_steps": trainer.global_step, "train_seconds": round(seconds, 1)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget of ACAI (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)

    import hydra

    from lightning_ae.metrics.lines import end_angle_errors, interpolation_pairs, interpolation_paths, lines_metrics

    torch.set_num_threads(min(os.cpu_count() or 1, torch.get_num_threads()))
    datamodule = hydra.utils.instantiate(compose(RECIPES["acai"]).data)
    datamodule.setup("fit")
    x_test = datamodule.tensors("test")[0]
    results = {"date": datetime.datetime.now().isoformat(timespec="minutes"),
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                          f"torch {torch.__version__}, {torch.get_num_threads()} threads",
               "budget_minutes": args.minutes, "models": {}}
    budget = None
    for name in ("acai", "ae"):
        model, stats = train(name, datamodule, budget, args.minutes, args.seed)
        budget = stats["batches"] if budget is None else budget
        start = time.perf_counter()
        paths = interpolation_paths(model, x_test, pairs=256, steps=16)
        stats.update(lines_metrics(paths))
        errors = end_angle_errors(paths, *interpolation_pairs(x_test, pairs=256))
        stats["end_angle_error_deg"] = round(math.degrees(float(errors.median())), 2)
        stats["eval_seconds"] = round(time.perf_counter() - start, 1)
        results["models"][name] = stats
        print(name, json.dumps(stats), flush=True)

    print(f"\nlines, {budget} batches of 64 each ({args.minutes:g} min of ACAI), {results['machine']}, "
          f"{results['date']}")
    print("| model | batches | optimizer steps | train s | median end angle error (°) | mean distance (×10⁻³) "
          "| smoothness |")
    print("|---|---|---|---|---|---|---|")
    for name, s in results["models"].items():
        print(f"| {name} | {s['batches']} | {s['optimizer_steps']} | {s['train_seconds']} | "
              f"{s['end_angle_error_deg']} | {1e3 * s['mean_distance']:.2f} | {s['smoothness']:.3f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
