"""Does the paper's conv net leave the blank-image plateau on a CPU? (issue 22)

Trains one model of an experiment config (default `experiment=ae_lines_paper`: the official conv net and init,
fresh lines, Adam 1e-4, batch 64) for `--steps` optimizer steps and, every `--every` steps, prints the test
MSE / variance of the first `--images` test lines (1.0 = predicting the mean image, the plateau) and the CPU
seconds per step so far (`time.process_time`, the probe's own time left out). On a shared machine the CPU clock
is the steady one; run it with one thread:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/plateau.py --steps 3000 --out outputs/plateau.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import compose  # noqa: E402


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--images", type=int, default=1000, help="test lines scored at each probe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="append one JSON line per probe here")
    p.add_argument("overrides", nargs="*", default=["experiment=ae_lines_paper"], help="config overrides")
    args = p.parse_args(argv)

    import hydra
    import pytorch_lightning as pl

    torch.set_num_threads(1)
    pl.seed_everything(args.seed, workers=True)
    cfg = compose(args.overrides)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    x_test = datamodule.tensors("test")[0][: args.images]
    model = hydra.utils.instantiate(cfg.model)
    points: list[dict] = []

    class Probe(pl.Callback):
        def __init__(self):
            self.probe_cpu, self.start = 0.0, None

        def measure(self, trainer, pl_module):
            t = time.process_time()
            was = pl_module.training
            pl_module.eval()
            with torch.no_grad():
                x_hat = pl_module.decode(pl_module.encode(x_test))
            pl_module.train(was)
            mse = (x_hat - x_test).pow(2).mean() / x_test.var()
            step = trainer.global_step
            train_cpu = time.process_time() - self.start - self.probe_cpu
            point = {"step": step, "mse_over_var": round(float(mse), 4), "train_cpu_s": round(train_cpu, 1),
                     "cpu_s_per_step": round(train_cpu / step, 4) if step else None}
            points.append(point)
            print(json.dumps(point), flush=True)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(point) + "\n")
            self.probe_cpu += time.process_time() - t

        def on_train_start(self, trainer, pl_module):
            self.start = time.process_time()
            self.measure(trainer, pl_module)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step % args.every == 0:
                self.measure(trainer, pl_module)

    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0, max_epochs=-1, max_steps=args.steps, callbacks=[Probe()])
    trainer.fit(model, datamodule=datamodule)
    return points


if __name__ == "__main__":
    main()
