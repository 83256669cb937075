"""Image grids every N epochs, to whichever loggers are on: PNG files, TensorBoard, W&B."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger


def to_bytes(grid: torch.Tensor):
    """A [C, H, W] grid in [0, 1] as the H×W×C uint8 array (0..255) W&B stores as-is; a float tensor would
    be cast to bytes 0/1 there."""
    return grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_grid(images: torch.Tensor, path: Path, value_range=(0.0, 1.0), nrow: int = 8) -> torch.Tensor:
    """Tile a batch [N, C, H, W] in the data's value range into one PNG at `path`; returns the [C, H, W] grid."""
    from torchvision.utils import make_grid, save_image

    lo, hi = value_range
    images = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    save_image(grid, path)
    return grid


class ImageGrids(pl.Callback):
    """At the end of every `every_n_epochs`-th validation (and the last epoch), ask the model for its
    named image batches (`model.image_grids(x, y)`: reconstructions, samples, interpolations, …) on a
    fixed validation batch, tile them, write `<dirpath>/<name>_epoch<NNN>.png` and log them.
    """

    def __init__(self, dirpath: str, every_n_epochs: int = 5, n_images: int = 16, nrow: int = 8):
        self.dirpath, self.every, self.n, self.nrow = Path(dirpath), every_n_epochs, n_images, nrow

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        last = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.fast_dev_run:
            return
        if (epoch + 1) % self.every and not last:
            return
        self.write(trainer, pl_module, f"epoch{epoch:03d}")

    def write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, tag: str) -> list[Path]:
        dm = trainer.datamodule
        x, y = dm.tensors("val")
        x, y = x[: self.n].to(pl_module.device), y[: self.n].to(pl_module.device)
        lo, hi = dm.value_range
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            grids = pl_module.image_grids(x, y)
        pl_module.train(was_training)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        written = []
        for name, images in grids.items():
            path = self.dirpath / f"{name}_{tag}.png"
            grid = save_grid(images, path, (lo, hi), self.nrow)
            written.append(path)
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.log_image(key=f"images/{name}", images=[to_bytes(grid)], step=trainer.global_step)
                elif isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(f"images/{name}", grid, global_step=trainer.global_step)
        return written
