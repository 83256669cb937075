"""scikit-learn's bundled digits (1,797 8×8 images, 17 grey levels, 10 classes): no download, ever."""
from __future__ import annotations

import torch

from .base import InMemoryDataModule


class DigitsDataModule(InMemoryDataModule):
    name = "digits"

    def __init__(self, test_size: int = 297, **kwargs):
        super().__init__(**kwargs)
        self.test_size = test_size

    def load(self):
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
        y = torch.tensor(d.target, dtype=torch.long)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed + 1))
        test, train = perm[: self.test_size], perm[self.test_size :]
        return {"train": (x[train], y[train]), "test": (x[test], y[test])}
