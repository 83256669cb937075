"""CIFAR-10 from the python pickle batches (`<data_dir>/cifar-10-batches-py/`)."""
from __future__ import annotations

import pickle

import numpy as np
import torch

from lightning_ae.errors import UserError

from .base import InMemoryDataModule

#: what CIFAR-10's python batches are made of (numpy arrays, dtypes and scalars; bytes by protocol 2): unpickling
#: may build these and nothing else, so a crafted batch file runs no code
BATCH_GLOBALS = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")} \
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in BATCH_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return super().find_class(module, name)


class CIFAR10DataModule(InMemoryDataModule):
    name = "cifar10"
    folder = "cifar-10-batches-py"

    def __init__(self, download: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.download = download

    def load(self):
        root = self.data_dir / self.folder
        files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        if not all((root / f).exists() for fs in files.values() for f in fs):
            if not self.download:
                raise self.missing(root, "CIFAR-10 batches")
            import torchvision

            try:
                torchvision.datasets.CIFAR10(str(self.data_dir), download=True)
            except Exception as e:
                raise self.missing(root, f"CIFAR-10 batches (download failed: {type(e).__name__})") from None
        out = {}
        for split, names in files.items():
            xs, ys = [], []
            for n in names:
                with open(root / n, "rb") as fh:
                    try:
                        d = BatchUnpickler(fh, encoding="latin1").load()
                    except pickle.UnpicklingError as e:
                        raise UserError(f"{root / n} is not a CIFAR-10 batch: it holds a Python object ({e}) that "
                                        "loading would run as code; use the official files") from None
                xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(d["labels"], dtype=np.int64))
            out[split] = (torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)))
        return out
