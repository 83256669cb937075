"""What the benchmark scripts share: composing the app's config the way the CLI would, and a step timer."""
from __future__ import annotations

import time

import pytorch_lightning as pl


def compose(overrides: list[str], output_dir: str = "outputs/benchmarks"):
    """The `train` config with `overrides`, runs writing below `output_dir` (not tracked)."""
    from hydra import compose as hydra_compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
        return hydra_compose(config_name="train", overrides=[f"paths.output_dir={output_dir}", *overrides])


def clocks() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds). On a shared machine the CPU clock is the steadier one:
    other jobs slow the wall clock down, not the CPU work a step needs."""
    return time.perf_counter(), time.process_time()


def rates(steps: int, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """Steps per wall second and per CPU second between two `clocks()` readings."""
    return steps / (end[0] - start[0]), steps / (end[1] - start[1])


class StepTimer(pl.Callback):
    """Clocks from the start of the first training call at or after optimizer step `warmup` to the end of the last
    one, and counts the optimizer steps in between (a call runs several under model.fused_steps)."""

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1, self.steps, self.first = warmup, None, None, 0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step >= self.warmup and self.t0 is None:
            self.t0, self.first = clocks(), trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.t0 is not None:
            self.t1, self.steps = clocks(), trainer.global_step - self.first

    def steps_per_second(self) -> tuple[float, float]:
        """(steps per wall second, steps per CPU second)."""
        return rates(self.steps, self.t0, self.t1)
