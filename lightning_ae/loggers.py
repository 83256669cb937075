"""Loggers whose history survives a resume, and the W&B factory.

- `ContinuingCSVLogger`: a resumed run appends to its `metrics.csv` instead of deleting it.
- `wandb_logger`: offline without a key; a resumed run continues its W&B run (same id, `resume="allow"`).
TensorBoard needs nothing: a new event file in the same folder continues its history.
"""
from __future__ import annotations

import csv
import logging
import os
import secrets
import socket
import warnings
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

log = logging.getLogger("lightning_ae")


def _wandb_reachable(host: str = "api.wandb.ai", timeout: float = 2.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import netrc

        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _hydra_job() -> tuple[str | None, str | None]:
    """(this job's overrides as a name, the sweep's directory name under a multirun) from Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return None, None
        hc = HydraConfig.get()
        sweep = Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None
        return hc.job.override_dirname or None, sweep
    except Exception:
        return None, None


class ContinuingCSVLogger(CSVLogger):
    """Lightning's CSVLogger, except that an existing `<log_dir>/metrics.csv` is continued: Lightning's writer
    deletes it when it starts, which after `resume=auto` would erase the run's history. The file is moved
    aside while the writer starts and then back. Rows of the earlier run whose step the resumed run logs
    again (written after its checkpoint, before a kill) are dropped at the first write: each step once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._started, self._continued = False, False

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._started:
            return super().experiment
        self._started = True
        path = Path(self.log_dir) / "metrics.csv"
        aside = path.with_name("metrics.csv.resuming")
        if path.is_file():
            os.replace(path, aside)
        with warnings.catch_warnings():  # "previous log files will be deleted": not here
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = super().experiment
        if aside.is_file():
            os.replace(aside, path)
            writer.metrics_keys = sorted(self._read(path)[0])
            self._continued = True
        return writer

    def set_aside_history(self) -> Path | None:
        """Move an existing `metrics.csv` to the next free `metrics.<n>.csv` beside it (a run that starts over
        in a directory holding an earlier attempt's history keeps that history); returns where, or None."""
        path = Path(self.log_dir) / "metrics.csv"
        if not path.is_file():
            return None
        n = 1
        while path.with_name(f"metrics.{n}.csv").exists():
            n += 1
        os.replace(path, aside := path.with_name(f"metrics.{n}.csv"))
        return aside

    @staticmethod
    def _read(path: Path) -> tuple[list[str], list[dict]]:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or []), list(reader)

    @rank_zero_only
    def save(self) -> None:
        writer = self.experiment
        if self._continued and writer.metrics:
            self._continued = False
            path = Path(self.log_dir) / "metrics.csv"
            header, rows = self._read(path)
            first_new = min(int(r["step"]) for r in writer.metrics)
            with open(path, "w", newline="") as fh:
                out = csv.DictWriter(fh, fieldnames=header)
                out.writeheader()
                out.writerows(r for r in rows if int(r["step"]) < first_new)
        super().save()


def _run_id(save_dir: str) -> str:
    """The W&B run id of this run directory: the one kept in `<save_dir>/wandb/run_id` by an earlier attempt (a
    resume appends to its W&B run), else a new one, kept there once the run creates its W&B run (`_RunIdKept`)."""
    path = Path(save_dir) / "wandb" / "run_id"
    return path.read_text().strip() if path.is_file() else secrets.token_hex(4)


def _keep_run_id(save_dir: str, run_id: str) -> None:
    path = Path(save_dir) / "wandb" / "run_id"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x") as fh:
            fh.write(run_id)
    except FileExistsError:
        pass


class _RunIdKept(WandbLogger):
    """Lightning's WandbLogger that writes the run id into the run directory when its W&B run is created: on rank
    zero, at the first log, after every check of train.py has passed, so a run refused before it starts leaves no
    `wandb/` behind in a directory it does not own."""

    @property
    @rank_zero_experiment
    def experiment(self):
        if not getattr(self, "_id_kept", False):  # once: Lightning reads `experiment` at every log call
            _keep_run_id(self._save_dir, self._id)
            self._id_kept = True
        return super().experiment


def wandb_logger(mode: str = "offline", name: str | None = None, group: str | None = None, **kwargs):
    """A WandbLogger that never needs an API key: online only with a key and a reachable server,
    otherwise offline with one warning (`wandb sync` uploads the run later). Training goes on either way.

    Runs are named after the job's overrides; the jobs of one multirun share the group `<group>-<sweep>`.
    The run id is stored in the run directory, so a resumed run (`resume=auto`) appends to the same W&B run.
    """
    job_name, sweep = _hydra_job()
    name = name or job_name
    if sweep:
        group = f"{group}-{sweep}" if group else sweep

    if mode == "online" and not (_wandb_key() and _wandb_reachable()):
        log.warning("W&B online mode needs an API key and network; logging offline instead "
                    "(upload later with `wandb sync`)")
        mode = "offline"
    save_dir = kwargs.pop("save_dir", ".")
    return _RunIdKept(name=name, group=group, mode=mode, save_dir=save_dir, id=_run_id(save_dir),
                      resume="allow", **kwargs)
