"""Ctrl-C stops a run the way a scheduler's SIGTERM does: last.ckpt saved, one line naming it, exit status 130.

Lightning's own Ctrl-C handling exits with status 1 without a checkpoint, and ignores every further Ctrl-C while
it shuts down. Here the first SIGINT, while a trainer runs (Lightning's SIGTERM handler is then installed), is
passed on as a SIGTERM to this process: Lightning stops after the batch in flight, at a point where its loop
state resumes exactly, and `LastCheckpoint` saves on that stop. A second Ctrl-C ends the process at once
(`os._exit`): checkpoints are written to a temporary file and renamed, so `last.ckpt` is then the previous save.
Outside a trainer call the first Ctrl-C is the usual KeyboardInterrupt, which `train.run` turns into the line.
"""
from __future__ import annotations

import os
import signal
import sys
import threading


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
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        self.pressed += 1
        if self.pressed > 1:
            print("error: Ctrl-C again: stopped at once, without saving; checkpoints/last.ckpt (if any) holds "
                  "the last completed save", file=sys.stderr, flush=True)
            os._exit(130)
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            signal.raise_signal(signal.SIGTERM)  # a trainer runs: it stops and saves as on a pre-emption
        else:
            raise KeyboardInterrupt
