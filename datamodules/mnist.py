"""MNIST and Fashion-MNIST from IDX files in torchvision's layout (`<data_dir>/<Name>/raw/`)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from .base import InMemoryDataModule

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz): magic (2 zero bytes, dtype code, ndim), big-endian dims, data."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests to make small stand-ins)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + array.tobytes())


class MNISTDataModule(InMemoryDataModule):
    name = "mnist"
    folder = "MNIST"
    torchvision_class = "MNIST"

    def __init__(self, download: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.download = download

    def _find(self, raw: Path, stem: str) -> Path | None:
        for p in (raw / stem, raw / f"{stem}.gz"):
            if p.exists():
                return p
        return None

    def load(self):
        raw = self.data_dir / self.folder / "raw"
        if any(self._find(raw, f) is None for pair in _FILES.values() for f in pair):
            self._download(raw)
        out = {}
        for split, (images, labels) in _FILES.items():
            x = torch.from_numpy(read_idx(self._find(raw, images)).copy()).unsqueeze(1)
            y = torch.from_numpy(read_idx(self._find(raw, labels)).astype(np.int64))
            out[split] = (x, y)
        return out

    def _download(self, raw: Path) -> None:
        if not self.download:
            raise self.missing(raw, "IDX files")
        import torchvision

        try:
            getattr(torchvision.datasets, self.torchvision_class)(str(self.data_dir), download=True)
        except Exception as e:  # no network, a proxy, a full disk: say where we looked
            raise self.missing(raw, f"IDX files (download failed: {type(e).__name__})") from None


class FashionMNISTDataModule(MNISTDataModule):
    name = "fashion_mnist"
    folder = "FashionMNIST"
    torchvision_class = "FashionMNIST"
