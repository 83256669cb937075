"""The schema of the `trainer` config node: every argument of `pytorch_lightning.Trainer`, read from its
signature, so that `trainer.<name>=...` composes for any of them and a misspelt name is caught by Hydra.

`conf/trainer/default.yaml` lists `/trainer_schema@_here_` first in its defaults; `register()` puts that
structured config in Hydra's ConfigStore, outside the `trainer` group so that it is no trainer option
(conf/__init__.py calls it, so it is there whenever the configs are loaded).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any

#: Trainer arguments the train entry point builds from their own config groups, never from `trainer.*`
BUILT_ELSEWHERE = {"logger": "pick loggers with logger=csv|tensorboard|wandb|many|none",
                   "callbacks": "pick callbacks with callbacks=default|none",
                   "plugins": "the app sets its own checkpoint plugin"}


def trainer_arguments() -> dict[str, Any]:
    """{name: default} of every keyword argument of `pytorch_lightning.Trainer` that `trainer.*` may set."""
    import pytorch_lightning as pl

    params = inspect.signature(pl.Trainer.__init__).parameters.values()
    return {p.name: p.default for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in BUILT_ELSEWHERE}


def _trainer_schema() -> type:
    """A dataclass with one field per Trainer argument (its default) and `_target_`."""
    fields = [(name, Any, dataclasses.field(default=default)) for name, default in trainer_arguments().items()]
    schema = dataclasses.make_dataclass("TrainerConfig", [("_target_", str, "pytorch_lightning.Trainer"), *fields])
    schema.__module__ = __name__  # composed configs keep it as the node's type: pickling finds it here by name
    return schema


TrainerConfig = _trainer_schema()


def register() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="trainer_schema", node=TrainerConfig)
