"""Callbacks that make a long run safe to leave alone."""
from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lightning_ae.errors import UserError


class FiniteLoss(pl.Callback):
    """Stop at the first NaN/inf training loss term with a one-line error naming the step and the term.

    Runs before the checkpoint callbacks (Lightning orders those last), so the step that produced the
    bad value is never saved: the last good checkpoint stays what `last.ckpt` holds.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        terms = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/") and not k.endswith("_epoch")}
        if not terms:
            return
        bad = ~torch.isfinite(torch.stack([v.detach().float().reshape(()) for v in terms.values()]))
        if trainer.world_size > 1:
            bad_anywhere = trainer.strategy.reduce_boolean_decision(bool(bad.any()), all=False)
        else:
            bad_anywhere = bool(bad.any())
        if not bad_anywhere:
            return
        name, value = next(((k, float(v)) for k, v in terms.items() if not math.isfinite(float(v))), ("on another rank", float("nan")))
        ckpt = trainer.checkpoint_callback
        kept = f"; last good checkpoint: {Path(ckpt.dirpath) / 'last.ckpt'}" if ckpt and ckpt.dirpath and (Path(ckpt.dirpath) / "last.ckpt").exists() else ""
        step = trainer.fit_loop.epoch_loop.total_batch_idx  # 0-based training iteration
        raise UserError(f"{name} = {value} at step {step} (epoch {trainer.current_epoch}, batch {batch_idx}); "
                        f"lower the learning rate or clip gradients and resume{kept}")


class SaveOnSigterm(pl.Callback):
    """On SIGTERM (SLURM pre-emption, `kill`), Lightning stops after the current batch; save `last.ckpt`
    there before the process exits, so `resume=auto` continues from that very step."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.dirpath / "last.ckpt")
