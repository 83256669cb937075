"""Two processes taking turns, for `overhead.py`'s lockstep row.

Between whole processes run one after the other, this machine's speed drifts by up to ±15 %, more than the
difference being measured. In lockstep, the framework run and the plain loop are launched together but only one
of them works at any moment. Each holds the turn for one phase and then hands it over and waits. The phases are
start-up (launch to the first epoch), each epoch (training, validation, checkpoints) and the rest (testing and
exit). So each phase of one side is timed right beside the same phase of the other, under the same machine
conditions, and the sum of a side's turns is its whole process without the drift.

    python -m benchmarks.turns <directory> framework -m lightning_ae ...   # or: ... plain benchmarks/plain_vae.py ...

runs the module or script after taking the first turn, and writes `<directory>/<side>.json`: the (start, end) Unix
times of each turn held. The code being timed marks its phase boundaries with `epoch_boundary()`: at the start
of every epoch and after the last one (`benchmarks/epoch_clock.py` for the framework, `plain_vae.py`); outside
this wrapper it does nothing.

The turn is a byte passed through two named pipes in the directory (`framework`, `plain`): a side waits by
reading its own pipe and hands over by writing the other's. Both pipes are opened read-write, so opening never
blocks; the launcher keeps them open too. It starts the first turn by writing one side's pipe, and gives the other
side its last turn once the first side's process has exited, so neither side's interpreter shutdown (not timed)
overlaps the other's timed work.
"""
from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

SIDES = ("framework", "plain")


def make_pipes(directory: Path) -> dict[str, int]:
    """The two pipes, created in `directory` and opened read-write (the launcher keeps these descriptors)."""
    directory.mkdir(parents=True, exist_ok=True)
    for side in SIDES:
        (directory / side).unlink(missing_ok=True)
        (directory / f"{side}.json").unlink(missing_ok=True)
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


current: Turns | None = None  # this process's, under the wrapper


def epoch_boundary() -> None:
    """A phase ends and the next begins: hand the turn over and wait for it (nothing outside the wrapper)."""
    if current is not None:
        current.give()
        current.take()


def run_in_lockstep(commands: dict[str, list[str]], directory: Path, first: str, **popen) -> dict[str, list]:
    """Launch `python -m benchmarks.turns <directory> <side> <command>` for both sides together (`commands[side]`
    is `-m module args` or `script args`), give `first` the first turn, and return each side's turns: (start, end)
    Unix times. `popen` goes to subprocess.Popen (cwd, env, stdout, stderr)."""
    pipes = make_pipes(directory)
    try:
        procs = {side: subprocess.Popen([sys.executable, "-m", "benchmarks.turns", str(directory), side, *cmd], **popen)
                 for side, cmd in commands.items()}
        os.write(pipes[first], b".")
        pid, status = os.wait()  # the side that ended first; the other waits for its last turn
        other = next(side for side, p in procs.items() if p.pid != pid)
        os.write(pipes[other], b".")
        codes = {next(s for s in SIDES if s != other): os.waitstatus_to_exitcode(status), other: procs[other].wait()}
    finally:
        for fd in pipes.values():
            os.close(fd)
    if any(codes.values()):
        raise RuntimeError(f"a lockstep process failed: exit status {codes}")
    return {side: json.loads((directory / f"{side}.json").read_text()) for side in SIDES}


def main(argv: list[str]) -> None:
    global current
    directory, side, *target = argv
    from benchmarks import turns  # the module the timed code imports (this file may be running as __main__)

    turns.current = current = Turns(directory, side)
    current.take()
    try:
        if target[0] == "-m":
            sys.argv = [target[1], *target[2:]]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = target
            runpy.run_path(target[0], run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    finally:  # the last turn ends here; the launcher hands the turn on once this process has exited
        current.spans.append((current.started, time.time()))
        (Path(directory) / f"{side}.json").write_text(json.dumps(current.spans))


if __name__ == "__main__":
    main(sys.argv[1:])
