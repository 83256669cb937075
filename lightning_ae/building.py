"""Building objects from configs and models from checkpoints: shared by the train, eval and hashing entry points.

Every checkpoint the train entry point writes carries `checkpoint["lightning_ae"]["config"]`, the resolved
run config (see `AutoencoderModule.on_save_checkpoint`). Its `model` node re-instantiates the exact variant
and network, whose weights then load from `state_dict`; its `data` node restores the data the model was
trained on. Both are vetted first (lightning_ae.safe_load: only this project's classes and torch optimizers). Nothing else (no class paths on the command line, no hyper-parameter files) is needed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from lightning_ae.errors import UserError


def build(cfg: DictConfig, target: str):
    """Instantiate `cfg[target]`, surfacing our own one-line errors from inside Hydra's wrapper."""
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(cfg[target])
    except InstantiationException as e:
        raise_own_error(e)
        raise UserError(f"cannot build `{target}` from the config: {failure(e)}") from None


def failure(e: Exception) -> str:
    """What went wrong inside Hydra's InstantiationException: its cause's type and first line (e.g. the
    allocation torch refused), else Hydra's own first line."""
    cause = e.__cause__
    text = str(cause or e).strip().splitlines()
    first = " ".join(text[0].split()) if text else ""
    return f"{type(cause).__name__}: {first}" if cause is not None else first


def raise_own_error(e: BaseException) -> None:
    """Re-raise the UserError inside Hydra's InstantiationException wrapper, if there is one."""
    cause = e
    while cause is not None and not isinstance(cause, UserError):
        cause = cause.__cause__
    if cause is not None:
        raise cause from None


def build_all(cfg: DictConfig, group: str) -> list:
    node = cfg.get(group) or {}
    return [hydra.utils.instantiate(c) for c in node.values() if c is not None and "_target_" in c]


def finish_wandb() -> None:
    """End the W&B run of this job so that every multirun job gets a run of its own."""
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish()


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict; UserError (one line) for a missing, corrupt or foreign file."""
    from lightning_ae.checkpointing import check_checkpoint

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"ckpt_path={path} does not exist; give the path of a .ckpt file written by lightning_ae")
    return check_checkpoint(path)


def load_model(path: str | Path, ckpt: dict | None = None):
    """Re-instantiate the checkpoint's model from its stored config, load its weights, switch to eval mode."""
    ckpt = ckpt if ckpt is not None else read_checkpoint(path)
    config = ckpt["lightning_ae"]["config"]
    model = build_stored_model(config, path)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise UserError(f"{path}: the stored weights do not fit the stored model config "
                        f"({str(e).splitlines()[0]})") from None
    model.run_config = config
    return model.eval()


def build_stored_model(config: dict, source: str | Path):
    """The (untrained) model a stored run config describes; its targets are vetted before anything is built
    (lightning_ae.safe_load.check_targets)."""
    from lightning_ae.safe_load import check_targets

    check_targets(config["model"], str(source), "model")
    try:
        return hydra.utils.instantiate(config["model"])
    except Exception as e:  # a variant that no longer exists in this version, a renamed argument ...
        raise_own_error(e)  # our own one-line errors (a missing model.vqvae_ckpt ...)
        raise UserError(f"{source}: cannot rebuild the model {config['model'].get('_target_')!r} from the "
                        f"stored config ({str(e).splitlines()[-1] if str(e) else type(e).__name__}); "
                        "was it written by another lightning_ae version?") from None


def stored_data_config(stored: dict, given: dict | DictConfig | None = None) -> DictConfig:
    """The data config to evaluate a checkpoint on: `given` if it names a `_target_` (e.g. `data=mnist`),
    else the checkpoint's own data config with the non-null keys of `given` on top (e.g. a moved data_dir)."""
    from lightning_ae import config_options

    # resolved while still under its root (${paths.data_dir}): it moves to a new one
    given = OmegaConf.to_container(given, resolve=True) if isinstance(given, DictConfig) else dict(given or {})
    if "_target_" in given:  # null keys (eval.yaml's data.path, ...) leave the constructor's defaults
        return OmegaConf.create({k: v for k, v in given.items() if v is not None})
    if not isinstance(stored.get("data"), dict) or "_target_" not in stored["data"]:
        raise UserError("the checkpoint stores no data config; choose one with data=<name> "
                        f"({', '.join(config_options('data'))})")
    changes = {k: v for k, v in given.items() if v is not None}
    if "path" in stored["data"] and "test_path" in changes:
        # eval's data.path is the folder to score (it sets test_path, conf/eval.yaml); the training folder stays
        # the checkpoint's, so the parts fitted on training images (PCA, probe, hashing database) never see it
        changes.pop("path", None)
    from lightning_ae.safe_load import check_targets

    check_targets(stored["data"], "the checkpoint", "data")
    return OmegaConf.merge(OmegaConf.create(stored["data"]), changes)
