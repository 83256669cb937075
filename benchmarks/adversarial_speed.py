"""Training speed of the adversarial variants next to a plain AE, and where each batch's time goes.

For each model (its default config on `--data`, batch 64): batches per second, optimizer steps per second
(what `trainer.global_step` counts: 2 per batch for ACAI, 3 for VAE-GAN, 4 for ALAE) and the share of a
batch's wall time spent in each optimizer step's block (forward + backward + step, timed from the end of
one `optimizer.step()` to the next).

    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/adversarial_speed.py --batches 40
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import compose  # noqa: E402

MODELS = ("ae", "acai", "vaegan", "alae")


class BlockTimer(pl.Callback):
    """Per batch: the time from batch start to each optimizer.step() return, after `warmup` batches."""

    def __init__(self, warmup: int):
        self.warmup, self.blocks, self.batch_times, self._marks = warmup, None, [], []

    def on_train_start(self, trainer, pl_module):
        for opt in trainer.optimizers:
            opt.register_step_post_hook(lambda *_: self._marks.append(time.perf_counter()))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._marks = [time.perf_counter()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx < self.warmup:
            return
        marks = self._marks + [time.perf_counter()]
        self.batch_times.append(marks[-1] - marks[0])
        blocks = [b - a for a, b in zip(marks[:-2], marks[1:-1])]
        blocks[-1] += marks[-1] - marks[-2]  # logging after the last step belongs to the batch's tail
        self.blocks = blocks if self.blocks is None else [s + b for s, b in zip(self.blocks, blocks)]


def measure(name: str, data: str, batches: int, warmup: int) -> dict:
    import hydra

    cfg = compose([f"model={name}", f"data={data}", "data.batch_size=64"])
    datamodule, model = hydra.utils.instantiate(cfg.data), hydra.utils.instantiate(cfg.model)
    timer = BlockTimer(warmup)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0, max_epochs=1, limit_train_batches=batches + warmup,
                         callbacks=[timer])
    trainer.fit(model, datamodule=datamodule)
    seconds = sum(timer.batch_times)
    steps_per_batch = trainer.global_step // (batches + warmup)
    total = sum(timer.blocks)
    return {"model": name, "steps_per_batch": steps_per_batch, "batches_per_s": len(timer.batch_times) / seconds,
            "optimizer_steps_per_s": steps_per_batch * len(timer.batch_times) / seconds,
            "block_share": [b / total for b in timer.blocks]}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--batches", type=int, default=40, help="timed batches per model (after --warmup)")
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(min(os.cpu_count() or 1, torch.get_num_threads()))
    rows = [measure(m, args.data, args.batches, args.warmup) for m in MODELS]
    base = rows[0]["batches_per_s"]
    print(f"\ndata={args.data}, batch 64, default nets, {args.batches} timed batches; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{datetime.datetime.now().isoformat(timespec='minutes')}")
    print("| model | optimizer steps / batch | batches/s | optimizer steps/s | batch time vs AE | time share per step |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        share = " / ".join(f"{100 * s:.0f}%" for s in r["block_share"])
        print(f"| {r['model']} | {r['steps_per_batch']} | {r['batches_per_s']:.1f} | {r['optimizer_steps_per_s']:.1f} "
              f"| {base / r['batches_per_s']:.2f}× | {share} |")
    return rows


if __name__ == "__main__":
    main()
