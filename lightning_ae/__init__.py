"""lightning_ae: the autoencoder family on PyTorch Lightning + Hydra."""
from __future__ import annotations


__version__ = "0.1.0"



def config_options(group: str) -> list[str]:
    """The options of a Hydra config group (e.g. "model"), read from the installed configs."""
    from importlib.resources import files

    node = files("lightning_ae.conf")
    for part in group.split("/"):
        node = node / part
    if not node.is_dir():
        return []
    return sorted(p.name[:-5] for p in node.iterdir() if p.name.endswith(".yaml"))
