"""A callback that sends a signal to its own process at a given training step (Ctrl-C is SIGINT, a kill -9
SIGKILL): the fault tests interrupt a run at a known point this way instead of after a delay."""
from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SignalAt(pl.Callback):
    def __init__(self, step: int, signum: str = "SIGINT", times: int = 1):
        self.step, self.signum, self.times, self.done = step, getattr(signal, signum), times, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step >= self.step and not self.done:
            self.done = True
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)
