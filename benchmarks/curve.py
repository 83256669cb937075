"""A benchmark row's learning curve: the headline metric on the validation split against wall clock.

`make bench` adds it to a row's training command (`+callbacks.curve._target_=benchmarks.curve.LearningCurve`),
so the curve comes from the same process and the same steps as the row's number. After every validation (in
`on_validation_end`, after every epoch-end hook, so that what a model logs in its own `on_validation_epoch_end`,
such as VQ-VAE's perplexity, is this epoch's value too) it appends one JSON line to `path`: seconds of fit so far (the Timer's clock, validation included), epoch,
global step, every scalar `val/*` metric Lightning holds, and, with `parts=[...]`, those evaluation parts (`lightning_ae/evaluation/parts/`) run on the validation split,
each key as `val/<key>` (e.g. `val/recon/sse`, `val/fid/classifier`, `val/lines/mean_distance`), so that a row's
curve is in its headline's units. `evaluation` overrides conf/evaluation/default.yaml for them (e.g. `max_images`,
or `fid.num_samples`: FID of fewer samples than the headline's 10,000 is biased upwards, so such a curve ends above
the row's number). They run from a fixed seed inside `torch.random.fork_rng`, so they do not move the training
run's random stream.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch


class LearningCurve(pl.Callback):
    def __init__(self, path: str, parts: list[str] | None = None, evaluation: dict | None = None):
        self.path = Path(path)
        self.parts, self.evaluation = list(parts or []), dict(evaluation or {})
        self._start: float | None = None

    def on_fit_start(self, trainer, pl_module):
        # a resumed run (`report.py --extend`) appends: its minutes of fit continue from the curve's last point
        done = read(self.path)[-1]["seconds"] if self.path.is_file() and self.path.stat().st_size else 0.0
        self._start = time.perf_counter() - done

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero or self._start is None:
            return
        point = {"seconds": time.perf_counter() - self._start, "epoch": trainer.current_epoch + 1,
                 "step": trainer.global_step}
        point |= {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
        if self.parts:
            point |= self.evaluate(trainer.datamodule, pl_module)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(point) + "\n")

    @torch.no_grad()
    def evaluate(self, datamodule, model) -> dict[str, float]:
        from lightning_ae.evaluation.suite import part, settings

        cfg = settings("default", {**self.evaluation, "split": "val"})
        out, was_training = {}, model.training
        model.eval()
        devices = [model.device] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(cfg.seed))
            for name in self.parts:
                module = part(name)
                if module.applies(model, datamodule):
                    out |= {f"val/{k}": float(v) for k, v in module.compute(model, datamodule, cfg, model.device).items()}
        model.train(was_training)
        return out


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
