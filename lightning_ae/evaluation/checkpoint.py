"""Load any lightning_ae checkpoint back into its model, from the config stored inside it.

Every checkpoint the train entry point writes carries `checkpoint["lightning_ae"]["config"]`, the resolved
run config (see `AutoencoderModule.on_save_checkpoint`). Its `model` node re-instantiates the exact
variant and network; the weights then load from `state_dict`. Nothing else (no class paths on the command
line, no hyper-parameter files) is needed.
"""
from __future__ import annotations

from pathlib import Path

import torch

from lightning_ae.errors import UserError


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict; UserError (one line) for a missing, corrupt or foreign file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"ckpt_path={path} does not exist; give the path of a .ckpt file written by lightning_ae")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  random bytes fail in many ways (unpickling, zip, EOF, struct ...)
        raise UserError(f"{path} is not a readable PyTorch checkpoint ({type(e).__name__}); "
                        "is the file complete? give a .ckpt written by lightning_ae") from None
    meta = ckpt.get("lightning_ae") if isinstance(ckpt, dict) else None
    config = meta.get("config") if isinstance(meta, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or "state_dict" not in ckpt:
        raise UserError(f"{path} is not a lightning_ae checkpoint (no model config stored in it); "
                        "give a .ckpt from outputs/<task>/runs/<time>/checkpoints/")
    return ckpt


def load_model(path: str | Path, ckpt: dict | None = None):
    """Re-instantiate the checkpoint's model from its stored config, load its weights, switch to eval mode."""
    import hydra

    ckpt = ckpt if ckpt is not None else read_checkpoint(path)
    config = ckpt["lightning_ae"]["config"]
    try:
        model = hydra.utils.instantiate(config["model"])
    except Exception as e:  # a variant that no longer exists in this version, a renamed argument ...
        raise UserError(f"{path}: cannot rebuild the model {config['model'].get('_target_')!r} from the "
                        f"stored config ({str(e).splitlines()[-1] if str(e) else type(e).__name__}); "
                        "was it written by another lightning_ae version?") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise UserError(f"{path}: the stored weights do not fit the stored model config "
                        f"({str(e).splitlines()[0]})") from None
    model.run_config = config
    return model.eval()
