"""A callback that writes wall-clock stamps of a run to a JSON file, for the whole-process benchmark.

`overhead.py` adds it to the default user run with a Hydra override (nothing else in the run changes):

    +callbacks.clock._target_=benchmarks.epoch_clock.EpochClock +callbacks.clock.path=<file>

The file holds `first_step` (time.time() as the first training batch starts), `epoch_ends` (one stamp per
training epoch, taken at `on_train_epoch_end`, i.e. after that epoch's validation) and `epoch_cpu` (the
process's CPU seconds at the same moments). Wall stamps are Unix times, so the launching process can
subtract its own launch time. Under `benchmarks/turns.py` (the lockstep row) it also marks the phase boundaries:
each epoch's start and the end of training.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl

from benchmarks import turns


class EpochClock(pl.Callback):
    def __init__(self, path: str):
        self.path, self.first_step, self.epoch_ends, self.epoch_cpu = Path(path), None, [], []

    def on_train_epoch_start(self, trainer, pl_module):
        turns.epoch_boundary()

    def on_train_end(self, trainer, pl_module):
        turns.epoch_boundary()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_step is None:
            self.first_step = time.time()

    def on_train_epoch_end(self, trainer, pl_module):
        self.epoch_ends.append(time.time())
        self.epoch_cpu.append(time.process_time())
        self.path.write_text(json.dumps({"first_step": self.first_step, "epoch_ends": self.epoch_ends,
                                         "epoch_cpu": self.epoch_cpu}))
