"""The schema of the `trainer` config node: every argument of `pytorch_lightning.Trainer`, read from its
signature, so that `trainer.<name>=...` composes for any of them and a misspelt name is caught by Hydra.

`conf/trainer/default.yaml` lists `/trainer_schema@_here_` first in its defaults; `register()` puts that
structured config in Hydra's ConfigStore, outside the `trainer` group so that it is no trainer option
(conf/__init__.py calls it, so it is there whenever the configs are loaded).
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

#: Trainer arguments the train entry point builds from their own config groups, never from `trainer.*`
BUILT_ELSEWHERE = {"logger": "pick loggers with logger=csv|tensorboard|wandb|many|none",
                   "callbacks": "pick callbacks with callbacks=default|none",
                   "plugins": "the app sets its own checkpoint plugin"}


@functools.cache
def _trainer_signature() -> dict[str, tuple[Any, str]]:
    """{name: (default, annotation as source text)} of every keyword argument of `pytorch_lightning.Trainer`
    that `trainer.*` may set.

    Read from the installed Trainer's source, not by importing it: the configs load before Hydra sets up
    logging, and pytorch_lightning imported then attaches a stderr handler of its own to its logger.
    """
    source = Path(importlib.util.find_spec("pytorch_lightning").origin).parent / "trainer" / "trainer.py"
    trainer = next(n for n in ast.parse(source.read_text()).body if isinstance(n, ast.ClassDef) and n.name == "Trainer")
    init = next(n for n in trainer.body if isinstance(n, ast.FunctionDef) and n.name == "__init__").args
    return {a.arg: (ast.literal_eval(d), ast.unparse(a.annotation) if a.annotation else "")
            for a, d in zip(init.kwonlyargs, init.kw_defaults) if a.arg not in BUILT_ELSEWHERE}


def trainer_arguments() -> dict[str, Any]:
    """{name: default} of every Trainer argument that `trainer.*` may set."""
    return {name: default for name, (default, _) in _trainer_signature().items()}


def trainer_accepts(name: str, value: Any) -> bool:
    """Whether the Trainer's annotation of argument `name` admits a value of this (bool, int, float, str or list)
    type: `trainer.devices=auto`, `trainer.fast_dev_run=3`, `trainer.deterministic=warn` do, `max_epochs=abc`
    does not. An annotation that uses one of Lightning's type aliases (e.g. `_PRECISION_INPUT`) admits any."""
    names = set(re.findall(r"[A-Za-z_]\w*", _trainer_signature()[name][1]))
    kind = {bool: "bool", int: "int", float: "float", str: "str", list: "list"}.get(type(value))
    return (any(n.startswith("_") for n in names) or kind in names or kind == "int" and "float" in names
            or kind is None)


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
