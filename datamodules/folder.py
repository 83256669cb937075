"""Any directory of images: one sub-folder per class, or flat (no labels). Resized once, held in memory.

Unreadable files are skipped with one warning that counts them; a folder with no readable image is a
one-line error.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from lightning_ae.errors import UserError

from .base import InMemoryDataModule

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_images(paths: list[Path], channels: int, height: int, width: int, crop: int | None = None):
    """Decode, optionally centre-crop to `crop`, resize and stack as uint8 [N, C, H, W]; returns (x, kept)."""
    from PIL import Image

    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise UserError(f"data.channels must be 1 or 3 for image files, got {channels}")
    arrays, kept, bad = [], [], []
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                im = im.convert(mode)
                if crop:
                    w, h = im.size
                    left, top = (w - crop) // 2, (h - crop) // 2
                    im = im.crop((left, top, left + crop, top + crop))
                if im.size != (width, height):
                    im = im.resize((width, height), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except Exception:
            bad.append(p)
            continue
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        kept.append(i)
    if bad:
        log.warning("skipped %d unreadable image file(s), e.g. %s", len(bad), bad[0])
    if not arrays:
        return None, kept
    return torch.from_numpy(np.stack(arrays)), kept


class FolderDataModule(InMemoryDataModule):
    name = "folder"

    def __init__(self, path: str | None = None, test_size: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(path).expanduser() if path else None
        self.test_size = test_size

    def load(self):
        root = self.path
        if root is None or not root.is_dir():
            raise UserError(f"folder: {root} is not a directory; set data.path=/path/to/images")
        classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        files, labels = [], []
        if classes:
            for k, c in enumerate(classes):
                fs = sorted(p for p in (root / c).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
                files += fs
                labels += [k] * len(fs)
        files_flat = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            files, labels, classes = files_flat, [], []
        if not files:
            raise UserError(f"folder: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}; "
                            "set data.path to a folder of images (flat or one sub-folder per class)")
        x, kept = load_images(files, self.channels, self.height, self.width)
        if x is None:
            raise UserError(f"folder: none of the {len(files)} image files in {root} could be read")
        y = torch.tensor(labels, dtype=torch.long)[kept] if classes else None
        if self.num_classes and classes and len(classes) != self.num_classes:
            raise UserError(f"folder: found {len(classes)} class folders but data.num_classes="
                            f"{self.num_classes}; set data.num_classes={len(classes)}")
        self.classes = classes
        n_test = max(1, int(round(self.test_size * len(x))))
        if len(x) < 3:
            raise UserError(f"folder: {root} has {len(x)} readable image(s); at least 3 are needed "
                            "for train, val and test splits")
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed + 1))
        te, tr = perm[:n_test], perm[n_test:]
        pick = (lambda i: y[i]) if y is not None else (lambda i: None)
        return {"train": (x[tr], pick(tr)), "test": (x[te], pick(te))}
