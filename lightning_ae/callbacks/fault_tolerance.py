"""Callbacks that make a long run safe to leave alone."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lightning_ae import interrupts
from lightning_ae.errors import UserError

clock = time.monotonic  # seconds, for LastCheckpoint.every_n_minutes (a test replaces it)


class FiniteLoss(pl.Callback):
    """Stop at the first NaN/inf training loss term with a one-line error naming the step and the term.

    Runs before the checkpoint callbacks (Lightning orders those last), so the step that produced the
    bad value is never saved: the last good checkpoint stays what `last.ckpt` holds.
    Not `EarlyStopping(check_finite=True)`: that checks one monitored metric when it is logged (epoch end,
    or the logging steps), so the non-finite weights of the steps in between could reach `last.ckpt`, and it
    stops quietly without naming the term.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        logged = getattr(pl_module, "step_values", None)  # [(step, names, values)] of this batch's log_train calls
        if not logged:
            return
        bad = not bool(torch.isfinite(torch.cat([values for _, _, values in logged])).all())  # one read-back
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if not bad:
            return
        # the first step with a non-finite term (fused steps run several per batch); the total is non-finite
        # whenever a term is: name the term that went first
        first = next((step for step, _, values in logged if not bool(torch.isfinite(values).all())), None)
        terms = [(f"train/{k}", float(v)) for step, names, values in logged if step == first
                 for k, v in zip(names, values)]
        ordered = sorted(terms, key=lambda kv: kv[0] == "train/loss")
        name, value = next(((k, v) for k, v in ordered if not math.isfinite(v)),
                           ("a loss term on another rank", float("nan")))
        last = last_checkpoint(trainer)
        kept = f"; last good checkpoint: {last}" if last else ""
        step = trainer.fit_loop.epoch_loop.total_batch_idx if first is None else first  # 0-based training step
        raise UserError(f"{name} = {value} at step {step} (epoch {trainer.current_epoch}, batch {batch_idx}); "
                        f"lower the learning rate or clip gradients and resume{kept}")


def last_checkpoint(trainer) -> Path | None:
    """The `last.ckpt` a LastCheckpoint callback of this trainer has written, if any."""
    return next((c.path for c in trainer.checkpoint_callbacks if isinstance(c, LastCheckpoint) and c.path.exists()),
                None)


class LastCheckpoint(Checkpoint):
    """Keeps `<dirpath>/last.ckpt` fresh: once `every_n_minutes` of training have passed since the last save
    (checked at batch and epoch ends), every `every_n_train_steps` optimizer steps if set, at the end of training
    (the last epoch, a stop by trainer.max_time or a callback, the step that reaches trainer.max_steps), and on
    SIGTERM (SLURM pre-emption, `kill`) before the process exits. So `resume=auto` loses at most that much training
    (and the batch in flight) to a SIGKILL or a crash, and nothing to a SIGTERM. Writes go through the trainer's
    (atomic) checkpoint IO. Best-by-metric checkpoints are ModelCheckpoint's job. As a `Checkpoint`, Lightning runs
    it after the other callbacks of a step (after FiniteLoss).

    Time rather than epochs by default: a save of the MNIST VAE takes about 20 ms, 0.4 % of its CPU epoch and more
    of a GPU one, spent every few seconds for a bound nobody needs that tight; and what a pre-empted user loses is
    time. Rank 0's clock decides, broadcast to every rank (all must call save together).

    A step checkpoint is written at the end of its batch (where Lightning's loop state resumes exactly) to
    `last.ckpt.pending`, and renamed over `last.ckpt` when the next batch starts: Lightning hands that batch's
    metrics to the loggers only after the callbacks' batch end, so a kill in between would otherwise leave a
    checkpoint whose last step's row was never written, and the resumed history would miss that row for good.

    Why not Lightning's own: `ModelCheckpoint(save_last=True, every_n_train_steps=N)` saves when
    `global_step % N == 0`, and models with several optimizers advance global_step by 2-4 per batch, so
    it can step over every multiple of N; `OnExceptionCheckpoint` saves on any exception, including the
    NaN stop, which would replace the last good weights with non-finite ones. This one saves on crossing
    a multiple of N, and on SIGTERM only.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int | None = None, every_n_minutes: float | None = 5.0):
        self.path = Path(dirpath) / "last.ckpt"
        self.pending = self.path.with_name("last.ckpt.pending")
        self.every = every_n_train_steps or 0
        self.every_seconds = 60.0 * every_n_minutes if every_n_minutes else None
        self._saved_step = -1
        self._saved_at = clock()
        self._pending = False  # a step checkpoint of this process waits in `pending` (no file system call per batch)
        self._stopping = False  # Ctrl-C during a DDP fit, agreed at a batch end (lightning_ae/interrupts.py)

    def _save(self, trainer, path: Path | None = None) -> None:
        if trainer.global_step != self._saved_step:
            trainer.save_checkpoint(path or self.path)  # Lightning saves all state by default: resume continues exactly
            self._saved_step = trainer.global_step
            self._pending = path is not None
        self._saved_at = clock()
        if path is None:
            self._drop_pending(trainer)  # superseded

    def _commit(self, trainer) -> None:
        if self._pending and trainer.is_global_zero:  # rank 0 writes the files
            os.replace(self.pending, self.path)
        self._pending = False

    def _drop_pending(self, trainer) -> None:
        self._pending = False
        if trainer.is_global_zero:
            self.pending.unlink(missing_ok=True)

    def _time_is_up(self, trainer) -> bool:
        due = self.every_seconds is not None and clock() - self._saved_at >= self.every_seconds
        if trainer.world_size > 1:  # rank 0 decides, for the periodic save and for a Ctrl-C (interrupts.py)
            due, self._stopping = trainer.strategy.broadcast((due, interrupts.stop_requested()))
        return bool(due)

    def on_fit_start(self, trainer, pl_module):
        self._saved_at = clock()
        self._stopping = False
        self._drop_pending(trainer)  # an earlier process's, whose batch may not have reached the loggers
        interrupts.coordinated = trainer.world_size > 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._commit(trainer)  # the previous batch's rows have reached the loggers

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # global_step may advance by several per batch (one per optimizer): save on crossing a multiple; and at the
        # batch that reaches trainer.max_steps, since a save at the end of an epoch cut short there would mark the
        # epoch done, and a run extended from it would skip the epoch's other batches
        crossed = self.every and trainer.global_step // self.every > max(self._saved_step, 0) // self.every
        due = self._time_is_up(trainer)  # every batch: under DDP a collective all ranks call
        if self._stopping:  # Ctrl-C under DDP: every rank saves this batch's state, then stops (SIGTERMException
            # at the epoch's end or validation start, which train.fit turns into the Ctrl-C line, status 130)
            self._saved_step = -1
            trainer.should_stop = True
        if crossed or 0 < trainer.max_steps <= trainer.global_step or due or self._stopping:
            self._save(trainer, self.pending)

    def on_validation_start(self, trainer, pl_module):
        if self._stopping:  # Lightning validates an epoch cut short by should_stop: not for a Ctrl-C
            raise SIGTERMException

    def on_train_epoch_end(self, trainer, pl_module):
        self._commit(trainer)
        if self._stopping:  # the epoch was cut short at the Ctrl-C: its pending batch-end save is last.ckpt
            raise SIGTERMException
        last_epoch = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs > 0
        if last_epoch or trainer.should_stop or self._time_is_up(trainer):
            self._save(trainer)

    def on_train_end(self, trainer, pl_module):
        self._commit(trainer)
        interrupts.coordinated = False

    def on_exception(self, trainer, pl_module, exception):
        interrupts.coordinated = False
        if self._stopping:  # the Ctrl-C stop of a DDP fit, saved at its batch end; its rows are logged by now
            self._commit(trainer)
            return
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            self._saved_step = -1  # the state at the signal, even where a pending file holds this step
            self._save(trainer)
        else:  # a crash (the NaN stop, an error) keeps last.ckpt as it is: at most one interval older
            self._drop_pending(trainer)
