"""Any directory of images: one sub-folder per class, or flat (no labels); with its own train/val/test
split or without. Resized once, held in memory.

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


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def loops_back(d: Path, folder: Path) -> bool:
    """A link to `folder` itself or to a folder above it (`self -> .`): following it would read the same images
    again, as a class of their own."""
    if not d.is_symlink():
        return False
    target, here = d.resolve(), folder.resolve()
    return target == here or target in here.parents


def class_folders(folder: Path) -> list[str]:
    """Names of the sub-folders that hold images (hidden ones and links back up aside): the classes, or none
    for a flat folder."""
    return sorted(d.name for d in folder.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and not loops_back(d, folder)
                  and image_files(d, recursive=True))


class FolderDataModule(InMemoryDataModule):
    """Images from `data.path`, in one of these layouts (each folder flat, or one sub-folder per class):

    - one folder: `test_size` of it is held out (seeded) as the test split, `val_size` of the rest for val;
    - `train/` and `test/` sub-folders, optionally `val/`: the splits as given;
    - `data.test_path`: a folder of its own that is the test split, all of it.

    With class sub-folders, the training folder's class names define the labels; a test or val folder
    may hold only those classes.
    """

    name = "folder"

    def __init__(self, path: str | None = None, test_path: str | None = None, test_size: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(path).expanduser() if path else None
        self.test_path = Path(test_path).expanduser() if test_path else None
        self.test_size = test_size

    def folders(self) -> dict[str, Path]:
        """The folder each split reads, by the layouts above."""
        root = self.path
        if root is None or not root.is_dir():
            raise UserError(f"folder: {root} is not a directory; set data.path=/path/to/images")
        given = {}
        if (root / "train").is_dir() and (root / "test").is_dir():
            given = {split: root / split for split in ("train", "val", "test") if (root / split).is_dir()}
        if self.test_path is not None:  # e.g. eval's data.path=/your/images/test: all of it is the test split
            if not self.test_path.is_dir():
                raise UserError(f"folder: data.test_path={self.test_path} is not a directory")
            return {"train": given.get("train", root), **({"val": given["val"]} if "val" in given else {}),
                    "test": self.test_path}
        return given or {"train": root}

    def load(self):
        folders = self.folders()
        self.classes = class_folders(folders["train"])
        if self.num_classes and self.classes and len(self.classes) != self.num_classes:
            raise UserError(f"folder: found {len(self.classes)} class folders in {folders['train']} but "
                            f"data.num_classes={self.num_classes}; set data.num_classes={len(self.classes)}")
        splits = {split: self.read(folder) for split, folder in folders.items()}
        if "test" in splits:
            return splits
        x, y = splits["train"]
        if len(x) < 3:
            raise UserError(f"folder: {folders['train']} has {len(x)} readable image(s); at least 3 are needed "
                            "for train, val and test splits")
        n_test = max(1, int(round(self.test_size * len(x))))
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed + 1))
        te, tr = perm[:n_test], perm[n_test:]
        pick = (lambda i: y[i]) if y is not None else (lambda i: None)
        return {"train": (x[tr], pick(tr)), "test": (x[te], pick(te))}

    def read(self, folder: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every image of one split's folder, labelled by the training classes (or unlabelled: flat)."""
        files, labels = [], []
        if self.classes:
            extra = sorted(set(class_folders(folder)) - set(self.classes))
            if extra:
                raise UserError(f"folder: {folder} has class folders {', '.join(extra)} that the training "
                                f"folder lacks (classes: {', '.join(self.classes)})")
            for k, c in enumerate(self.classes):
                fs = image_files(folder / c, recursive=True) if (folder / c).is_dir() else []
                files += fs
                labels += [k] * len(fs)
        else:
            files = image_files(folder)
        if not files:
            raise UserError(f"folder: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}; "
                            "set data.path to a folder of images (flat or one sub-folder per class)")
        x, kept = load_images(files, self.channels, self.height, self.width)
        if x is None:
            raise UserError(f"folder: none of the {len(files)} image files in {folder} could be read")
        return x, torch.tensor(labels, dtype=torch.long)[kept] if self.classes else None
