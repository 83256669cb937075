"""`lightning_ae.load`: a trained model in Python, from a checkpoint, a run directory, an exported folder or the Hub.

    model = lightning_ae.load("outputs/train/runs/<time>")          # or a .ckpt, an exported folder, "hf://user/name"
    x = model.preprocess(images)                                    # uint8 or [0, 1] images, as the training data was
    z, x_hat = model.encode(x), model.reconstruct(x)                # and decode, sample(n), interpolate(x1, x2)

Everything is read as data (lightning_ae.safe_load): checkpoints with `weights_only=True` and their stored configs
vetted; an exported folder is `model.safetensors` + `config.yaml` and never reaches an unpickler.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from lightning_ae.errors import UserError

log = logging.getLogger("lightning_ae")

HUB_PREFIX = "hf://"
WEIGHTS, CONFIG = "model.safetensors", "config.yaml"
#: the files of an exported folder, the only ones fetched from the Hub
EXPORTED_FILES = [WEIGHTS, CONFIG, "metrics.json", "eval.json", "README.md", "*.png"]


def load(path: str | Path, map_location="cpu", trust_checkpoint: bool = False):
    """The trained model in eval mode, on `map_location`, from:

    - a `.ckpt` written by `python -m lightning_ae` (its stored config rebuilds the variant);
    - a run directory (`outputs/<task>/runs/<time>` or its `checkpoints/`): its best checkpoint by the monitored
      metric, else `last.ckpt` (a line says which);
    - an exported folder (`python -m lightning_ae.export`), or `hf://user/name` for one on the Hugging Face Hub
      (downloaded into the Hub cache; offline, the cached copy).

    `trust_checkpoint=True` loads a checkpoint that needs full unpickling (an older one): only for files you trust,
    as unpickling runs whatever code the file holds (see lightning_ae.safe_load)."""
    from lightning_ae.building import load_model
    from lightning_ae.safe_load import trusting

    source = hub_folder(str(path)[len(HUB_PREFIX):]) if str(path).startswith(HUB_PREFIX) else Path(path).expanduser()
    with trusting(trust_checkpoint):
        if (source / WEIGHTS).is_file():
            model = load_exported(source)
        elif source.is_dir():
            model = load_model(run_checkpoint(source))
        elif source.is_file():
            model = load_model(source)
        else:
            raise UserError(f"{path} does not exist; give a .ckpt, a run directory or an exported folder")
    return model.to(map_location).eval()


def load_exported(folder: Path):
    """An exported folder: the model rebuilt from `config.yaml` (targets vetted), weights from `model.safetensors`."""
    from omegaconf import OmegaConf
    from safetensors.torch import load_model as load_weights

    from lightning_ae.building import build_stored_model
    from lightning_ae.safe_load import check_targets

    try:
        config = OmegaConf.to_container(OmegaConf.load(folder / CONFIG), resolve=False)
    except Exception as e:
        raise UserError(f"{folder / CONFIG} is not a readable config ({type(e).__name__}); export the model "
                        "again with python -m lightning_ae.export") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise UserError(f"{folder / CONFIG} has no model config; export the model again with python -m "
                        "lightning_ae.export")
    check_targets({k: config.get(k) for k in ("model", "data")}, str(folder / CONFIG), "")
    model = build_stored_model(config, folder)
    try:
        load_weights(model, str(folder / WEIGHTS), strict=True, device="cpu")
    except Exception as e:
        raise UserError(f"{folder / WEIGHTS} does not fit the model its config.yaml builds "
                        f"({str(e).splitlines()[0][:200]})") from None
    model.run_config = config
    return model.eval()


def run_checkpoint(folder: Path) -> Path:
    """The checkpoint to load from a run directory: the best one ModelCheckpoint kept (by its own record in
    last.ckpt where it kept several), else last.ckpt."""
    from lightning_ae.safe_load import load_checkpoint

    ckdir = folder / "checkpoints" if (folder / "checkpoints").is_dir() else folder
    last = ckdir / "last.ckpt"
    kept = sorted(p for p in ckdir.glob("*.ckpt") if p.name != "last.ckpt")
    best = kept[0] if len(kept) == 1 else None
    if len(kept) > 1 and last.is_file():
        states = (load_checkpoint(last).get("callbacks") or {}).values()
        named = {Path(str(s.get("best_model_path") or "")).name for s in states if isinstance(s, dict)}
        best = next((p for p in kept if p.name in named), None)
    if best is not None:
        log.info("%s: loading its best checkpoint, %s", folder, best.name)
        return best
    if last.is_file():
        log.info("%s: no best checkpoint there, loading last.ckpt", folder)
        return last
    raise UserError(f"{folder} holds no checkpoint (checkpoints/*.ckpt) nor an exported model ({WEIGHTS}); "
                    "give a run directory, a .ckpt or an exported folder")


def hub_folder(repo_id: str) -> Path:
    """The exported folder `repo_id` on the Hugging Face Hub, in the local Hub cache (HF_HUB_CACHE): downloaded, or
    the cached copy when the Hub cannot be reached (or HF_HUB_OFFLINE=1)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise UserError("hf:// paths need the Hugging Face Hub client: pip install 'lightning_ae[hub]'") from None
    try:
        return Path(snapshot_download(repo_id, allow_patterns=EXPORTED_FILES))
    except Exception as online:
        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=EXPORTED_FILES, local_files_only=True))
        except Exception:
            offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
            why = "HF_HUB_OFFLINE is set" if offline else f"no network, no such repository or no access: " \
                                                          f"{type(online).__name__}"
            raise UserError(f"hf://{repo_id} could not be downloaded ({why}) and is not in the local Hub cache; "
                            "connect (and set HF_TOKEN for a private repository) or point HF_HUB_CACHE at a cache "
                            "that has it") from None
        log.info("hf://%s: the Hub cannot be reached (%s); using the cached copy %s", repo_id,
                 type(online).__name__, folder)
        return folder
