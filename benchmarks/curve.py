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

Each point also carries `cpu_seconds`, the training process's CPU time since fit start (`time.process_time`: every
thread of the process, so one thread gives the compute the row's equal-compute comparisons use), and `threads`
(torch's intra-op threads). `CpuBudget` stops a fit once its process has used a given number of CPU-seconds, for
a run by hand (`+callbacks.cpu_budget._target_=benchmarks.curve.CpuBudget +callbacks.cpu_budget.seconds=...`). The
table's rows do not use it: CPU-seconds on a shared machine are no budget, so a row's CPU budget is batches from
quiet calibrations (benchmarks/calibrate.py, `batch_budget` in report.py).
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
        last = read(self.path)[-1] if self.path.is_file() and self.path.stat().st_size else {}
        self._start = time.perf_counter() - last.get("seconds", 0.0)
        self._cpu_start = time.process_time() - last.get("cpu_seconds", 0.0)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero or self._start is None:
            return
        point = {"seconds": time.perf_counter() - self._start, "cpu_seconds": time.process_time() - self._cpu_start,
                 "threads": torch.get_num_threads(), "epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        point |= {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
        if self.parts:
            point |= self.evaluate(trainer.datamodule, pl_module)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(point) + "\n")

    def on_train_end(self, trainer, pl_module):
        """A fit stopped inside an epoch (CpuBudget, max_time) ends with a point of its clocks and step alone."""
        if not trainer.is_global_zero or self._start is None:
            return
        points = read(self.path) if self.path.is_file() and self.path.stat().st_size else []
        if points and points[-1]["step"] == trainer.global_step:
            return
        point = {"seconds": time.perf_counter() - self._start, "cpu_seconds": time.process_time() - self._cpu_start,
                 "threads": torch.get_num_threads(), "epoch": trainer.current_epoch + 1, "step": trainer.global_step}
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


class CpuBudget(pl.Callback):
    """Stop training once this process has used `seconds` CPU-seconds since fit start (checked after every
    training call, i.e. every `model.fused_steps` steps); validation after the last epoch still runs."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._start: float | None = None

    def on_fit_start(self, trainer, pl_module):
        self._start = time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._start is not None and time.process_time() - self._start >= self.seconds:
            trainer.should_stop = True


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
