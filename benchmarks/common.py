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


class StepTimer(pl.Callback):
    """Wall time from the start of optimizer step `warmup` to the end of the last training batch."""

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.t0 is not None:
            self.t1, self.steps = time.perf_counter(), self.steps + 1

    def steps_per_second(self) -> float:
        return self.steps / (self.t1 - self.t0)
