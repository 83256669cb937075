"""Callbacks that the multi-process tests add to a run from the command line (`+callbacks.<name>._target_=...`),
to look inside each rank: they are test instruments, not part of the package."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytorch_lightning as pl
import torch


class DumpWeights(pl.Callback):
    """Every rank writes its model's weights to `<dirpath>/weights_rank<k>.pt` when training ends (default dirpath:
    `weights/` in the run directory)."""

    def __init__(self, dirpath: str | None = None):
        self.dirpath = Path(dirpath) if dirpath else None

    def on_train_end(self, trainer, pl_module):
        if self.dirpath is None:
            self.dirpath = Path(trainer.default_root_dir) / "weights"
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save({"global_step": trainer.global_step, "state_dict": state},
                   self.dirpath / f"weights_rank{trainer.global_rank}.pt")


class KillNode(pl.Callback):
    """Rank `rank` kills its torchrun agent and then itself (SIGKILL: a node that dies) once `step` optimizer
    steps are done; the other ranks were last in step with it one batch earlier."""

    def __init__(self, step: int, rank: int = 1):
        self.step, self.rank = step, rank

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_rank == self.rank and trainer.global_step >= self.step:
            os.kill(os.getppid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)


class Pace(pl.Callback):
    """Sleeps `seconds` after every training batch, so that a tiny run lasts long enough for a scheduler to
    interrupt it mid-training."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        import time

        time.sleep(self.seconds)
