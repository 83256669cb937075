"""What identifies the data a checkpoint was trained on, so that a resume on other data is refused.

Stored in every checkpoint as `checkpoint["lightning_ae"]["data"]` (models/base.py `on_save_checkpoint`):
the datamodule's class (`_target_`), its folder (`path` or `data_dir`, as given), the size of each split and a
hash of a few training images with their labels (the first, middle and last of the seeded training split). A
resume compares class, sizes and images: data of the same image shape but other content (another folder,
another source, other split settings) is one line, and the path alone may change (data moved elsewhere).
`resume_on_other_data=true` (conf/train.yaml) continues on the new data on purpose (fine-tuning).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from lightning_ae.errors import UserError

COMPARED = ("target", "sizes", "samples")


def data_identity(data_config: dict, datamodule) -> dict | None:
    """The identity of `datamodule` (set up), or None where its splits are not loaded in this process."""
    splits = getattr(datamodule, "splits", None)
    if not splits or "train" not in splits:
        return None
    x, y = splits["train"]
    picks = sorted({0, len(x) // 2, len(x) - 1})
    digest = hashlib.sha256()
    for i in picks:
        digest.update(x[i].contiguous().cpu().numpy().tobytes())
        digest.update(int(y[i]).to_bytes(8, "little", signed=True))
    return {"target": data_config.get("_target_"),
            "path": str(data_config.get("path") or data_config.get("data_dir") or ""),
            "sizes": {split: len(v[0]) for split, v in sorted(splits.items())},
            "samples": digest.hexdigest()[:16]}


def check_same_data(ckpt_path: str, now: dict | None, allowed: bool) -> None:
    """One line when the checkpoint's stored identity differs from `now` (older checkpoints store none)."""
    from lightning_ae.checkpointing import check_checkpoint

    then = (check_checkpoint(Path(ckpt_path)).get("lightning_ae") or {}).get("data")
    if allowed or not then or not now:
        return
    differ = [k for k in COMPARED if then.get(k) != now.get(k)]
    if not differ:
        return
    what = {"target": "the data source differs", "sizes": "the split sizes differ",
            "samples": "the images differ"}[differ[0]]
    shown = f"{then[differ[0]]} then, {now[differ[0]]} now" if differ[0] != "samples" else \
        f"trained on {then['path'] or then['target']}, now {now['path'] or now['target']}"
    raise UserError(f"ckpt_path={ckpt_path} was trained on other data: {what} ({shown}); resume it on "
                    "its own data, or add resume_on_other_data=true to continue on this data on purpose")
