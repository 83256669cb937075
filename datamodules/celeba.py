"""CelebA aligned faces (`<data_dir>/celeba/img_align_celeba/*.jpg`), centre-cropped and resized once.

The resized tensor is cached beside the images, so later runs load in seconds. Splits follow
`list_eval_partition.txt` when present (0 train, 1 val→train pool, 2 test), else a seeded 90/10 split.
"""
from __future__ import annotations

import torch

from .base import InMemoryDataModule
from .folder import load_images


class CelebADataModule(InMemoryDataModule):
    name = "celeba"

    def __init__(self, download: bool = True, crop: int = 140, **kwargs):
        super().__init__(**kwargs)
        self.download, self.crop = download, crop

    def load(self):
        root = self.data_dir / "celeba"
        images = root / "img_align_celeba"
        cache = root / f"lightning_ae_{self.channels}x{self.height}x{self.width}_c{self.crop}.pt"
        if cache.exists():
            x, part = torch.load(cache, weights_only=True)
        else:
            if not images.is_dir():
                self._download(root)
            files = sorted(images.glob("*.jpg"))
            if not files:
                raise self.missing(images, "jpg images")
            x, kept = load_images(files, self.channels, self.height, self.width, self.crop)
            part = torch.zeros(len(files), dtype=torch.long)
            split_file = root / "list_eval_partition.txt"
            if split_file.exists():
                table = dict(line.split() for line in split_file.read_text().splitlines() if line.strip())
                part = torch.tensor([int(table.get(f.name, 0)) for f in files])
            else:
                g = torch.Generator().manual_seed(self.seed + 1)
                part[torch.randperm(len(files), generator=g)[: max(1, len(files) // 10)]] = 2
            part = part[kept]
            try:
                torch.save((x, part), cache)
            except OSError:
                pass  # read-only data folder: fine, just slower next time
        test = part == 2
        return {"train": (x[~test], None), "test": (x[test], None)}

    def _download(self, root):
        if not self.download:
            raise self.missing(root / "img_align_celeba", "jpg images")
        import torchvision

        try:
            torchvision.datasets.CelebA(str(self.data_dir), download=True)
        except Exception as e:
            raise self.missing(root / "img_align_celeba", f"jpg images (download failed: {type(e).__name__})") from None
