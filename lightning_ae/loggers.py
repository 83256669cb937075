"""Logger factories that need more than a `_target_`."""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

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


def wandb_logger(mode: str = "offline", name: str | None = None, group: str | None = None, **kwargs):
    """A WandbLogger that never needs an API key: online only with a key and a reachable server,
    otherwise offline with one warning (`wandb sync` uploads the run later). Training goes on either way.

    Runs are named after the job's overrides; the jobs of one multirun share the group `<group>-<sweep>`.
    """
    from pytorch_lightning.loggers import WandbLogger

    job_name, sweep = _hydra_job()
    name = name or job_name
    if sweep:
        group = f"{group}-{sweep}" if group else sweep

    if mode == "online" and not (_wandb_key() and _wandb_reachable()):
        log.warning("W&B online mode needs an API key and network; logging offline instead "
                    "(upload later with `wandb sync`)")
        mode = "offline"
    os.environ["WANDB_MODE"] = mode  # child processes (DDP ranks) agree with this one
    return WandbLogger(name=name, group=group, mode=mode, **kwargs)
