"""lightning_ae: the autoencoder family on PyTorch Lightning + Hydra."""
from __future__ import annotations


__version__ = "0.1.0"


def load(path, map_location="cpu", trust_checkpoint: bool = False):
    """A trained model in eval mode from a .ckpt, a run directory, an exported folder or "hf://user/name" (see
    lightning_ae.api.load); it offers preprocess, encode, decode, reconstruct, interpolate and, where the variant
    has a prior, sample. Imported on first call, so `import lightning_ae` stays light."""
    from lightning_ae.api import load as _load

    return _load(path, map_location=map_location, trust_checkpoint=trust_checkpoint)


def config_options(group: str) -> list[str]:
    """The options of a Hydra config group (e.g. "model"), read from the installed configs."""
    from importlib.resources import files

    node = files("lightning_ae.conf")
    for part in group.split("/"):
        node = node / part
    if not node.is_dir():
        return []
    return sorted(p.name[:-5] for p in node.iterdir() if p.name.endswith(".yaml"))
