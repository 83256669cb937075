"""Files a user hands in are data, never code: the one place checkpoints are read and stored configs vetted.

Two ways a checkpoint could run code, and what closes each:
- pickle: `torch.load(weights_only=False)` calls whatever callable the file names (`__reduce__`). Every
  checkpoint is read with `weights_only=True` (torch's restricted unpickler: tensors, containers, numbers,
  strings). Ours hold nothing else (a test saves one of every variant and reads it that way), so no
  allowlist (`torch.serialization.add_safe_globals`) is needed.
- the stored config: a checkpoint's `config.model` / `config.data` are rebuilt with `hydra.utils.instantiate`,
  which calls any `_target_` (`builtins.open`, `torch.load`, `os.system` ...). `check_targets` walks the whole
  node first, nested and `_partial_` targets included, and admits only this project's model, network, data and
  likelihood classes and torch's optimizers and learning-rate schedulers. Interpolations (`${...}`) are refused
  too: a resolver such as `oc.decode` could make a new `_target_` after the check.

`trust_checkpoint=true` (train/eval config key, `--trust-checkpoint` for the hashing CLI, `trust_checkpoint=True`
for `lightning_ae.load`) lifts both, for a file whose author the user trusts (e.g. one written by an older
lightning_ae that pickled Python objects): it is then unpickled in full and any `_target_` is built. The entry
points set it for their whole run with `trusting(...)`, so a file read deeper down (`model.vqvae_ckpt`) follows it.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import pickle
import re
from pathlib import Path

from lightning_ae.errors import UserError

log = logging.getLogger("lightning_ae")

_trust = contextvars.ContextVar("trust_checkpoint", default=False)

#: `_target_` prefixes of this project's classes, and the base class each target there must derive from
PROJECT_PACKAGES = {
    "lightning_ae.models": ("pytorch_lightning", "LightningModule"),
    "lightning_ae.nets": (None, None),  # net specs (plain classes, lightning_ae/nets/__init__.py) and modules
    "datamodules": ("pytorch_lightning", "LightningDataModule"),
    "lightning_ae.likelihoods": (None, None),
}
TRUST_HINT = ("if you trust whoever wrote it, add trust_checkpoint=true (--trust-checkpoint for lightning_ae.hashing), "
              "which runs any code the file holds")


@contextlib.contextmanager
def trusting(trust: bool | None):
    """Within this block, files are read as `trust` says (see the module docstring)."""
    token = _trust.set(bool(trust))
    try:
        yield
    finally:
        _trust.reset(token)


def trusted() -> bool:
    return _trust.get()


def load_checkpoint(path: str | Path, trust: bool | None = None, mmap: bool = True):
    """`torch.load` of a user's file on the CPU: weights only, unless trusted. A file that needs full unpickling
    is one line naming the first Python object it holds; a corrupt one is one line too."""
    import torch

    trust = trusted() if trust is None else trust
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "weights only load failed" not in str(e).lower():
            raise UserError(f"{path} is not a readable checkpoint (UnpicklingError); "
                            "point ckpt_path at another .ckpt (nothing was changed)") from None
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f"a Python object ({found.group(1)})" if found else "Python objects"
        if not trust:
            raise UserError(f"{path} holds {what} that loading would run as code, not only tensors and plain "
                            f"values; nothing was loaded; {TRUST_HINT}") from None
        log.warning("trust_checkpoint=true: unpickling %s in full, which runs any code it holds (%s); do this "
                    "only for files from a source you trust", path, what)
        return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{path} is not a readable checkpoint ({type(e).__name__}); "
                        "point ckpt_path at another .ckpt (nothing was changed)") from None


def check_targets(node, source: str, where: str = "", trust: bool | None = None) -> None:
    """Refuse (UserError, one line) a config node that would build anything but the allowed classes, before
    anything is built. `source` names the file in the message, `where` the node's key path."""
    if trusted() if trust is None else trust:
        return
    if isinstance(node, dict) or hasattr(node, "items"):
        for key, value in node.items():
            at = f"{where}.{key}" if where else str(key)
            if key == "_target_" and not allowed_target(value):
                raise UserError(f"{source}: its stored config names `_target_: {value}` (at {where or 'top level'}), "
                                "which is not a lightning_ae model, network, data or likelihood class nor a torch "
                                f"optimizer or scheduler; nothing was built; {TRUST_HINT}")
            check_targets(value, source, at, trust=False)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_targets(value, source, f"{where}[{i}]", trust=False)
    elif isinstance(node, str) and "${" in node:
        raise UserError(f"{source}: its stored config holds an interpolation at {where} ({node!r}); configs "
                        f"written by lightning_ae are resolved; nothing was built; {TRUST_HINT}")


def allowed_target(target) -> bool:
    """Whether `target` names one of the allowed classes. Decided from the string before importing anything
    that is not this project's own package or torch.optim (`lightning_ae.models.vqvae_prior.torch.load` is
    refused: the module part must be the package or one of its own modules, the object a class defined there)."""
    if not isinstance(target, str) or not re.fullmatch(r"[A-Za-z_][\w.]*", target):
        return False
    module, _, name = target.rpartition(".")
    if module in ("torch.optim", "torch.optim.lr_scheduler"):
        import torch

        base = torch.optim.Optimizer if module == "torch.optim" else torch.optim.lr_scheduler.LRScheduler
        obj = getattr(torch.optim if module == "torch.optim" else torch.optim.lr_scheduler, name, None)
        return inspect.isclass(obj) and issubclass(obj, base) and obj is not base
    package = next((p for p in PROJECT_PACKAGES if module == p or module.startswith(p + ".")), None)
    if package is None or not _own_module(package, module):
        return False
    import importlib

    obj = getattr(importlib.import_module(module), name, None)
    if not inspect.isclass(obj) or not (obj.__module__ == package or obj.__module__.startswith(package + ".")):
        return False
    base_module, base_name = PROJECT_PACKAGES[package]
    return base_module is None or issubclass(obj, getattr(importlib.import_module(base_module), base_name))


def _own_module(package: str, module: str) -> bool:
    """`module` is `package` itself or one of its direct modules (listed, not imported)."""
    import importlib
    import pkgutil

    if module == package:
        return True
    parent = importlib.import_module(package)
    if not hasattr(parent, "__path__") or module.count(".") != package.count(".") + 1:
        return False
    return module.rsplit(".", 1)[1] in {m.name for m in pkgutil.iter_modules(parent.__path__)}
