"""A SLURM time limit under the submitit launcher (`hydra/launcher=slurm`): last.ckpt first, then submitit's requeue.

submitit asks SLURM for a warning before the time limit (`--signal=USR2@<hydra.launcher.signal_delay_s>`). Its
handler requeues the job (`scontrol requeue`, at most `hydra.launcher.max_num_timeout` times) and then waits inside
the handler until SLURM kills the job, so the training loop never gets to save: the requeued job would go back to the
last periodic last.ckpt. While `trainer.fit` runs, `SubmititTimeout` turns the warning into the SIGTERM stop instead
(Lightning agrees on it across ranks at the next batch, LastCheckpoint saves last.ckpt), and `forward()` then runs
submitit's own handler: it requeues the job, or ends it with submitit's "timed-out too many times" error once
max_num_timeout is spent. Pre-emption (SIGTERM from SLURM) needs none of this: submitit ignores SIGTERM and SLURM
requeues the job itself.
"""
from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("lightning_ae")


class SubmititTimeout:
    """`with SubmititTimeout() as timeout: trainer.fit(...)`; after a SIGTERM stop, `timeout.forward()`. Outside a
    submitit job (no SUBMITIT_FOLDER, which submitit sets in the job) it does nothing."""

    def __init__(self):
        self.signum = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), signal.SIGUSR2)
        self.submitit_handler = None
        self.warned = False

    def __enter__(self) -> SubmititTimeout:
        handler = signal.getsignal(self.signum) if os.environ.get("SUBMITIT_FOLDER") else None
        if callable(handler):
            self.submitit_handler = handler
            signal.signal(self.signum, self._on_warning)
        return self

    def _on_warning(self, signum, frame) -> None:
        self.warned = True
        os.kill(os.getpid(), signal.SIGTERM)  # Lightning's SIGTERM stop: every rank stops at the same batch

    def __exit__(self, *exc) -> None:
        if self.submitit_handler is not None:
            signal.signal(self.signum, self.submitit_handler)

    def forward(self, stopped: str) -> None:
        """After the stop that a time-limit warning caused (`stopped`: the step and the checkpoint, for the log):
        submitit requeues the job (rank 0 then waits for SLURM to end it) or raises its error when the job has
        timed out max_num_timeout times."""
        if self.warned and self.submitit_handler is not None:
            self.warned = False
            log.warning("SLURM time limit ahead: %s; submitit requeues the job while hydra.launcher.max_num_timeout "
                        "allows", stopped)
            self.submitit_handler(self.signum, None)
