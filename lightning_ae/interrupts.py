"""Ctrl-C stops a run the way a scheduler's SIGTERM does: last.ckpt saved, one line naming it, exit status 130.

Lightning's own Ctrl-C handling exits with status 1 without a checkpoint, and ignores every further Ctrl-C while
it shuts down. Here the first SIGINT, while a trainer runs (Lightning's SIGTERM handler is then installed), is
passed on as a SIGTERM to this process: Lightning stops after the batch in flight, at a point where its loop
state resumes exactly, and `LastCheckpoint` saves on that stop. A second Ctrl-C ends the process at once
(`os._exit`): checkpoints are written to a temporary file and renamed, so `last.ckpt` is then the previous save.
Outside a trainer call the first Ctrl-C is the usual KeyboardInterrupt, which `train.run` turns into the line.

Under multi-process DDP the ranks must stop at the same batch: Lightning's SIGTERM handler (2.6) runs a collective
broadcast inside the signal handler, at whatever point each rank was, and the ranks' collectives then no longer
match (a crash, no checkpoint). So while a DDP fit runs (`coordinated`, set by `LastCheckpoint`), the first Ctrl-C
is only recorded (`stop_requested`); `LastCheckpoint` broadcasts rank zero's answer at every batch end, and all ranks
save and stop there together.
"""
from __future__ import annotations

import os
import signal
import sys
import threading


coordinated = False  # a multi-process DDP fit is running: the stop is agreed at a batch end (LastCheckpoint)
_requested = False


def stop_requested() -> bool:
    """Whether Ctrl-C was pressed during a coordinated (DDP) fit."""
    return _requested


class CtrlC:
    """Context manager installing the SIGINT handler for the duration of a run (main thread only)."""

    def __init__(self):
        self.pressed = 0
        self._previous = None

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        global _requested
        _requested = False
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        self.pressed += 1
        if self.pressed > 1:
            print("error: Ctrl-C again: stopped at once, without saving; checkpoints/last.ckpt (if any) holds "
                  "the last completed save", file=sys.stderr, flush=True)
            os._exit(130)
        if coordinated:
            global _requested
            _requested = True  # the ranks stop together at the next batch end
            return
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            signal.raise_signal(signal.SIGTERM)  # a trainer runs: it stops and saves as on a pre-emption
        else:
            raise KeyboardInterrupt
