"""The images every part scores: the `cfg.split` split (first `cfg.max_images`), and the training split that
fitted parts (PCA, probe, hashing database) learn from. Labels are None where the data has none."""
from __future__ import annotations

import torch


def cap(t: torch.Tensor, n) -> torch.Tensor:
    return t if n is None else t[: int(n)]


def labelled(datamodule) -> bool:
    """Class labels on every image of the training and test splits (-1 marks an unlabelled image)."""
    if datamodule.num_classes < 2:
        return False
    datamodule.setup()
    ys = [datamodule.splits[s][1] for s in ("train", "test")]  # labels only: no image transform
    return all(len(y) > 0 and bool((y >= 0).all()) for y in ys)


def scored(datamodule, cfg, n=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The scored images and their labels (None on unlabelled data), the first min(n, cfg.max_images)."""
    x, y = datamodule.tensors(cfg.split)
    n = cfg.max_images if n is None else n if cfg.max_images is None else min(int(n), int(cfg.max_images))
    return cap(x, n), cap(y, n) if labelled(datamodule) else None


def training(datamodule, n=None, with_val: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n training images and labels (train + val with `with_val`)."""
    x, y = datamodule.tensors("train")
    if with_val:
        vx, vy = datamodule.tensors("val")
        x, y = torch.cat([x, vx]), torch.cat([y, vy])
    return cap(x, n), cap(y, n)
