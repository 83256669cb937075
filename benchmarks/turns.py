"""Two processes taking turns, epoch by epoch, for `overhead.py`'s lockstep row.

Between whole processes run one after the other, this machine's speed drifts by up to ±15 %, more than the
difference being measured. In lockstep, the framework run and the plain loop run at the same time but only one
of them works at any moment: each holds the turn for one epoch (training, validation, checkpoint), then hands it
over and waits. So each framework epoch is timed right beside a plain one, under the same machine conditions.

The turn is a byte passed through two named pipes in one directory (`framework`, `plain`): a side waits by
reading its own pipe and hands over by writing the other's. Both pipes are opened read-write, so opening never
blocks; the launcher keeps them open too, and starts the first turn by writing one side's pipe. After its last
epoch each side waits for the other's last epoch to end, so neither side's test pass runs during the other's epoch.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

SIDES = ("framework", "plain")


def make_pipes(directory: Path) -> dict[str, int]:
    """The two pipes, created in `directory` and opened read-write (the launcher keeps these descriptors)."""
    directory.mkdir(parents=True, exist_ok=True)
    for side in SIDES:
        (directory / side).unlink(missing_ok=True)
        os.mkfifo(directory / side)
    return {side: os.open(directory / side, os.O_RDWR) for side in SIDES}


class Turns:
    """One side's view: `take()` waits for the turn, `give()` hands it over; `spans` holds (start, end)
    Unix times of each turn held."""

    def __init__(self, directory: str | Path, side: str):
        other = next(s for s in SIDES if s != side)
        self.mine = os.open(Path(directory) / side, os.O_RDWR)
        self.theirs = os.open(Path(directory) / other, os.O_RDWR)
        self.spans: list[tuple[float, float]] = []
        self.started: float | None = None

    def take(self) -> None:
        os.read(self.mine, 1)
        self.started = time.time()

    def give(self) -> None:
        if self.started is not None:
            self.spans.append((self.started, time.time()))
            self.started = None
            os.write(self.theirs, b".")

    def finish(self) -> None:
        """After the last epoch: hand over, wait until the other side has ended its last epoch too, and let it go
        on (so neither side's testing and exit runs during the other's last epoch)."""
        self.give()
        os.read(self.mine, 1)
        os.write(self.theirs, b".")

    def next_epoch(self) -> None:
        """At the start of every epoch: end the previous epoch's turn, if any, and wait for this one."""
        self.give()
        self.take()
