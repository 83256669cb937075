"""A callback that sends a signal to its own process at a given training step (Ctrl-C is SIGINT, a kill -9
SIGKILL): the fault tests interrupt a run at a known point this way instead of after a delay."""
from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SignalAt(pl.Callback):
    """At training step `step` (or, with `testing=true`, at the first test batch). With `group=true`, rank zero
    sends it to its whole process group, as a terminal does on Ctrl-C (every DDP rank gets it)."""

    def __init__(self, step: int = 0, signum: str = "SIGINT", times: int = 1, testing: bool = False,
                 group: bool = False):
        self.step, self.signum, self.times, self.testing, self.done = step, getattr(signal, signum), times, testing, False
        self.group = group

    def send(self) -> None:
        if not self.done:
            self.done = True
            for _ in range(self.times):
                if self.group:
                    os.killpg(os.getpgrp(), self.signum)
                else:
                    os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not self.testing and trainer.global_step >= self.step and (trainer.is_global_zero or not self.group):
            self.send()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self.testing:
            self.send()
