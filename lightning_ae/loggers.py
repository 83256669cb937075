"""Logger factories that need more than a `_target_`."""
from __future__ import annotations

import logging
import os
import socket

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


def _job_name() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().job.override_dirname or None if HydraConfig.initialized() else None
    except Exception:
        return None


def wandb_logger(mode: str = "offline", name: str | None = None, **kwargs):
    """A WandbLogger that never needs an API key: online only with a key and a reachable server,
    otherwise offline with one warning (`wandb sync` uploads the run later). Training goes on either way."""
    from pytorch_lightning.loggers import WandbLogger

    if mode == "online" and not (_wandb_key() and _wandb_reachable()):
        log.warning("W&B online mode needs an API key and network; logging offline instead "
                    "(upload later with `wandb sync`)")
        mode = "offline"
    os.environ["WANDB_MODE"] = mode  # child processes (DDP ranks) agree with this one
    return WandbLogger(name=name or _job_name(), mode=mode, **kwargs)
