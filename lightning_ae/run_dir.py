"""A run directory belongs to one run, and a run writes nothing into it before every check has passed.

- `claim(output_dir, resuming)`: called once the inputs have built data, model and trainer, before the first
  write. A directory that already holds a run (its `.hydra/config.yaml`, a checkpoint, `metrics.json` or a
  metrics history) is taken only by a resume (`resume=auto`, or a `ckpt_path` inside it); a new run there is one
  line. Then an OS-level lock (`filelock`: `fcntl.flock`, released by the kernel when the process ends, so a
  killed run leaves no obstacle) is held for the run, with the holder's PID beside it in `.lock.pid`: a second
  process on the same directory is one line naming that PID. Under DDP only global rank 0 (the launching
  process) claims; the other ranks of the run write only what rank 0 lets them.
- `RunLogHandler`: Hydra's job log file (`<run dir>/<job>.log`), held in memory until the run has claimed its
  directory, so a run refused by a check does not append to a finished run's log.
- `check_writable(path)`: a run directory the user cannot write is one line, before Hydra opens its log file.
- `save_run_config(cfg)`: Hydra's record of the run (`.hydra/`), written once the checks have passed.
- `forget_if_empty(path)`: a refused run leaves no empty time-stamped directory behind.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from lightning_ae.errors import UserError

if TYPE_CHECKING:
    from omegaconf import DictConfig

LOCK, PID = ".lock", ".lock.pid"
_claimed: list = []  # the FileLock this process holds (at most one)
_checked: list = []  # non-empty once this process's run has passed its checks: the log handlers write from then on
_ever_claimed: set[Path] = set()  # the run directories this process has claimed (the jobs of a multirun)


def holds_run(output_dir: Path) -> str | None:
    """What shows that `output_dir` holds a started or finished run (relative path), or None."""
    out = Path(output_dir)
    for name in (".hydra/config.yaml", "metrics.json", "csv/metrics.csv"):
        if (out / name).is_file():
            return name
    ckpts = sorted((out / "checkpoints").glob("*.ckpt")) if (out / "checkpoints").is_dir() else []
    return f"checkpoints/{ckpts[0].name}" if ckpts else None


def claim(output_dir: str | Path, resuming: bool, rank_zero: bool = True,
          instead: str = "add resume=auto to continue it, or choose another hydra.run.dir") -> None:
    """Make `output_dir` this run's: refuse a new run into a directory that holds one (saying what to do
    `instead`), take the lock."""
    from filelock import FileLock, Timeout

    out = Path(output_dir)
    if not rank_zero:  # the run's rank 0 has claimed the directory; this rank only logs
        open_logs()
        return
    held = holds_run(out)
    if held and not resuming:
        raise UserError(f"{out} already holds a run ({held}); {instead}")
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read_pid(out / PID)
        raise UserError(f"{out} is in use by another run (process {holder}); wait for it to end, or "
                        "choose another hydra.run.dir") from None
    (out / PID).write_text(f"{os.getpid()}\n")
    _claimed.append(lock)
    _ever_claimed.add(out.resolve())
    open_logs()


def open_logs() -> None:
    """Let the job log file be written (the records held so far first): the run's checks have passed, or a
    failed sweep job records its failure in its own directory."""
    _checked.append(True)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RunLogHandler):
            handler.flush_held()


def release() -> None:
    """Let go of the lock (the end of an in-process run; a process that ends releases it anyway)."""
    while _claimed:
        _claimed.pop().release()
    _checked.clear()


def claimed_here(output_dir: str | Path) -> bool:
    """Whether this process has claimed `output_dir` (so it may write there, e.g. a failed job's error.txt)."""
    return Path(output_dir).resolve() in _ever_claimed


def _read_pid(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class RunLogHandler(logging.FileHandler):
    """Hydra's job log file (conf/hydra/default.yaml), opened only once the run has claimed its directory:
    the records before that are held and written then; a run refused by a check writes none."""

    def __init__(self, filename, mode="a", encoding=None, delay=True, errors=None):
        super().__init__(filename, mode, encoding, delay=True, errors=errors)
        self.held: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not _checked:
            self.held.append(record)
            return
        super().emit(record)

    def flush_held(self) -> None:
        if self.stream is None:  # the log file exists from here on, as Hydra's own handler would have made it
            self.stream = self._open()
        held, self.held = self.held, []
        for record in held:
            super().emit(record)


def check_writable(key: str, raw: str, hint: str = "choose a run directory you can write (or change its "
                                                   "permissions)") -> None:
    """`hydra.run.dir` (or sweep dir, or the log folder they default to) that this user cannot create or write
    into: one line."""
    path = Path(raw).expanduser().absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{key}={raw}: {existing} is not writable by this user; {hint}")


def save_run_config(cfg: DictConfig) -> None:
    """Hydra's record of the run, `<run dir>/.hydra/{config,overrides,hydra}.yaml`, written only once data,
    model and trainer have been built from it (conf/train.yaml turns Hydra's own early write off): a bad
    input pointed at a finished run leaves that run's record as it was."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():  # composed by hand (tests, benchmarks): no run directory of Hydra's
        return
    hydra_cfg = HydraConfig.instance().cfg
    out = Path(hydra_cfg.hydra.runtime.output_dir) / ".hydra"
    out.mkdir(parents=True, exist_ok=True)
    for name, node in (("config", cfg), ("hydra", hydra_cfg), ("overrides", hydra_cfg.hydra.overrides.task)):
        (out / f"{name}.yaml").write_text(OmegaConf.to_yaml(node), encoding="utf-8")


def forget_if_empty(output_dir: str | Path) -> None:
    """Remove `output_dir` if this run left it empty (Hydra creates it before any check can run)."""
    try:
        Path(output_dir).rmdir()  # only succeeds on an empty folder
    except OSError:
        pass
