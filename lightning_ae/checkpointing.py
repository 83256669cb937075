"""Checkpoints that survive a kill, and the checks run before resuming from one.

- `AtomicCheckpointIO` writes `<name>.tmp` then renames it over `<name>`: a kill during the write leaves
  the previous checkpoint intact, never a truncated `last.ckpt`.
- `resolve_ckpt_path(cfg)` turns `ckpt_path=...` / `resume=auto` into a checked path, or None.
- `check_shapes_match(path, model, config)`: the checkpoint's weights fit the model the config builds.
Every read goes through `lightning_ae.safe_load` (weights only; the stored config's targets vetted).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from lightning_ae.errors import UserError

log = logging.getLogger("lightning_ae")


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            torch.save(checkpoint, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _model_name(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def check_checkpoint(path: Path, model_target: str | None = None) -> dict:
    """The loaded checkpoint; one-line errors for a corrupt or foreign file, or (given `model_target`) one
    of another model than the configured one, or one whose stored model/data config would build anything but
    this project's classes (safe_load.check_targets). Training's resume and the eval entry point both use it.
    Memory-mapped (as `check_shapes_match` reads it): a resume reads the weights once, in Lightning's restore."""
    from lightning_ae.safe_load import check_targets, load_checkpoint

    ckpt = load_checkpoint(path)
    meta = ckpt.get("lightning_ae") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict) \
            or not isinstance(meta["config"].get("model"), dict) or "state_dict" not in ckpt:
        raise UserError(f"{path} is not a lightning_ae checkpoint; give one written by `python -m lightning_ae`")
    check_targets({k: meta["config"].get(k) for k in ("model", "data")}, str(path), "config")
    saved = meta["config"]["model"]["_target_"]
    if model_target is not None and saved != model_target:
        raise UserError(f"{path} holds a {_model_name(saved)} checkpoint but the config builds "
                        f"{_model_name(model_target)}; select the matching model=... to resume it")
    return ckpt


def _image_shape(config: dict | None) -> tuple | None:
    data = (config or {}).get("data") or {}
    try:
        return tuple(data[k] for k in ("channels", "height", "width"))
    except KeyError:
        return None


def check_shapes_match(path: str, model, config: dict) -> None:
    """One line naming the first weight whose shape differs between the checkpoint and the configured model,
    and why: the data's image shape changed, or else the network settings (model.*) did. Training on from it also
    needs the step loop it was trained with (`check_same_loop`)."""
    from lightning_ae.safe_load import load_checkpoint

    ckpt = load_checkpoint(path)
    if config.get("train", True):
        check_same_loop(path, ckpt, model)
    own, weights = model.state_dict(), ckpt.get("state_dict", {})
    unmatched = sorted(set(own) ^ set(weights))
    if unmatched:
        raise UserError(f"ckpt_path={path} does not fit this model: {unmatched[0]} is only in "
                        f"{'this model' if unmatched[0] in own else 'the checkpoint'}; the network settings "
                        "differ from the ones it was trained with: use its model.* values")
    for name, saved in weights.items():
        if tuple(own[name].shape) != tuple(saved.shape):
            then = _image_shape((ckpt.get("lightning_ae") or {}).get("config"))
            now = _image_shape(config)
            why = (f"it was trained on images of shape {then} and the data now gives {now}: use its data config"
                   if then and now and then != now else
                   "the network settings differ from the ones it was trained with: use its model.* values")
            raise UserError(f"ckpt_path={path} does not fit this model: {name} is {tuple(saved.shape)} in the "
                            f"checkpoint but {tuple(own[name].shape)} here; {why}")


def check_same_loop(path: str, ckpt: dict, model) -> None:
    """model.fused_steps > 1 (manual optimization) and 1 (Lightning's automatic loop) count their steps apart, so a
    fit cannot move from one to the other. Said here, before the run directory is touched; the model's
    `on_load_checkpoint` says the same inside fit, for checkpoints that reach it another way."""
    stored = ((ckpt.get("lightning_ae") or {}).get("config") or {}).get("model") or {}
    was, now = int(stored.get("fused_steps", 1)), int(getattr(model, "fused_steps", 1))
    if (was > 1) != (now > 1):
        raise UserError(f"{path} was trained with model.fused_steps={was}; resume it with model.fused_steps={was} "
                        "(fused steps need manual optimization, which trainer.gradient_clip_val and "
                        "accumulate_grad_batches turn off), or start a new run")


def latest_checkpoint(output_dir: Path) -> Path | None:
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def resolve_ckpt_path(cfg) -> str | None:
    """`ckpt_path` if given; with `resume=auto`, this run directory's last.ckpt if there is one."""
    ckpt = cfg.get("ckpt_path")
    if not ckpt and cfg.get("resume") == "auto":
        found = latest_checkpoint(Path(cfg.paths.output_dir))
        if found is None:
            log.info("resume=auto: no checkpoint in %s yet, starting from scratch", cfg.paths.output_dir)
            return None
        log.info("resume=auto: continuing from %s", found)
        ckpt = str(found)
    elif cfg.get("resume") not in (None, "auto"):
        raise UserError(f"resume={cfg.resume} is not understood; use resume=auto or ckpt_path=/path/to.ckpt")
    if not ckpt:
        return None
    if not Path(ckpt).is_file():
        raise UserError(f"ckpt_path={ckpt} does not exist; give the path of a .ckpt file to resume from")
    check_checkpoint(Path(ckpt), cfg.model._target_)
    return str(ckpt)
