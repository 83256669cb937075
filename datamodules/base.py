"""In-memory image datamodules: every source loads once into uint8/float tensors, and batches are slices.

A source subclass only implements `load()`; splitting, batching, DDP sharding and the batched transforms
(scale to the value range, dynamic binarisation) live here, once. Batches are `(x, y)` with `y`
the class label, or -1 where the data has none.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pytorch_lightning as pl
import torch

from lightning_ae.errors import UserError

log = logging.getLogger("lightning_ae")


class TensorBatches:
    """Yields `(x, y)` batches by indexing whole tensors: no per-sample Python work, no worker processes.
    Lightning takes any sized iterable as a dataloader; this one is handed over as it is.

    Under DDP each rank takes an equal share of every epoch's permutation (padded by repetition, as
    torch's DistributedSampler does), so all ranks run the same number of steps.

    `progress()`, when given, returns (epoch, batches already done in it): the permutation then follows the
    trainer's epoch, and a run resumed mid-epoch continues with the batches it had not seen yet, so it
    trains on exactly what an uninterrupted run would. `pin_memory` pins each batch for a fast copy to a GPU.

    `group` > 1 (model.fused_steps): each item is up to `group` consecutive batches in one pair of tensors, which
    the model splits again, cut where the batch's index in the epoch is a multiple of `group` (so every run and
    every resume of it cuts at the same batches); `max_batches` caps the batches of an epoch (an integer
    trainer.limit_train_batches, which Lightning would otherwise count in items).
    """

    def __init__(self, x, y, batch_size, shuffle, drop_last, seed, rank=0, world_size=1, progress=None,
                 pin_memory=False, group=1, max_batches=None):
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch, self.progress, self.pin_memory = 0, progress, pin_memory
        self.per_rank = math.ceil(len(x) / world_size)
        self.group = group
        per_rank = self.per_rank // batch_size if drop_last else math.ceil(self.per_rank / batch_size)
        self.batches = per_rank if max_batches is None else min(per_rank, max_batches)

    def __len__(self):
        return math.ceil(self.batches / self.group)

    def _cuts(self, skip: int) -> list[tuple[int, int]]:
        """(first, end) batch of each item left in the epoch after `skip` batches: cut where the batch's index is a
        multiple of `group`. After a call that trainer.max_steps cut short (Lightning counts it as made), its rest
        joins the next call, so the epoch still has len() items; where it was the epoch's last call, Lightning
        counts the epoch as done and the rest is not asked for."""
        g, n = self.group, self.batches
        ends = list(range((skip // g + 1 + (skip % g > 0)) * g, n, g)) + [n]
        starts = [skip, *ends[:-1]]
        return [(a, b) for a, b in zip(starts, ends) if a < b]

    def _indices(self):
        n = len(self.x)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        total = self.per_rank * self.world_size
        if total > n:  # pad so every rank gets the same count
            order = torch.cat([order, order[: total - n]])
        return order[self.rank : total : self.world_size]

    def __iter__(self):
        skip = 0
        if self.progress is not None:
            self.epoch, skip = self.progress()
        idx = self._indices()
        self.epoch += 1
        for first, end in self._cuts(skip):
            i = idx[first * self.batch_size : end * self.batch_size]
            yield (self.x[i].pin_memory(), self.y[i].pin_memory()) if self.pin_memory else (self.x[i], self.y[i])


class InMemoryDataModule(pl.LightningDataModule):
    """Base of every datamodule. Subclasses return `{"train": (x, y), "test": (x, y)}` from `load()`, and
    `"val": (x, y)` too where the source has its own validation split (else `val_size` of train is held out).

    Images are `[N, C, H, W]`, either uint8 in 0..255 or float in [0, 1]; `y` is int64 (or None).
    The facts a model needs are attributes: `channels`, `height`, `width`, `num_classes`,
    `value_range`, `shape`.
    """

    name = "data"
    groups_batches = True  # the training loader can hand over model.fused_steps batches at once (TensorBatches)

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        num_classes: int = 0,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        val_size: float | int = 0.1,
        seed: int = 1234,
        value_range: tuple[float, float] = (0.0, 1.0),
        binarize: str | None = None,
        data_dir: str | None = None,
        pin_memory: bool = True,
        resident: bool | str = "auto",
        likelihood: str | None = None,  # read by models through interpolation; unused here
    ):
        super().__init__()
        if batch_size <= 0:
            raise UserError(f"data.batch_size must be positive, got {batch_size}")
        if resident not in (True, False, "auto"):
            raise UserError(f"data.resident must be auto, true or false, got {resident!r}")
        if binarize not in (None, "dynamic", "static"):
            raise UserError(f"data.binarize must be null, dynamic or static, got {binarize!r}")
        self.channels, self.num_classes = int(channels), int(num_classes)
        self.height, self.width = int(height), int(width)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.val_size, self.seed = val_size, seed
        self.value_range = tuple(float(v) for v in value_range)
        self.binarize = binarize
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self.pin_memory = pin_memory
        self.resident = resident
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # split -> its tensors on the GPU
        self._said_host = False  # data.resident=true off a GPU is said once
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        #: training batches done in the current epoch; checkpointed (state_dict) so a resume can skip them
        self.trained = {"epoch": -1, "batches": 0}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = {k: self._labelled(*v) for k, v in self.load().items()}
        x, y = data["train"]
        if "val" in data:  # a source with its own validation split
            self.splits["train"], self.splits["val"] = (x, y), data["val"]
        else:
            n_val = int(round(self.val_size * len(x))) if isinstance(self.val_size, float) else int(self.val_size)
            n_val = min(max(n_val, 1), len(x) - 1)
            perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
            self.splits["train"] = (x[perm[n_val:]], y[perm[n_val:]])
            self.splits["val"] = (x[perm[:n_val]], y[perm[:n_val]])
        self.splits["test"] = data["test"]
        # Binarised-MNIST protocol (IWAE, NVAE): pixels are Bernoulli draws with the grey level as
        # probability. `static` draws every split once; `dynamic` redraws training batches each step and
        # draws val/test once. Either way the evaluation splits are one fixed draw from `data.seed`, so
        # every evaluation of every checkpoint scores the same binary images (never a 0.5 threshold).
        if self.binarize is not None:
            g = torch.Generator().manual_seed(self.seed)
            for k in ("train", "val", "test") if self.binarize == "static" else ("val", "test"):
                sx, sy = self.splits[k]
                self.splits[k] = (torch.bernoulli(to_unit(sx), generator=g), sy)

    def _labelled(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """A loaded split, its shape checked, with label -1 where the source has none."""
        self._check_shape(x)
        return x, y if y is not None else torch.full((len(x),), -1, dtype=torch.long)

    def _check_shape(self, x: torch.Tensor) -> None:
        want = self.shape
        if tuple(x.shape[1:]) != want:
            raise UserError(
                f"{self.name}: loaded images of shape {tuple(x.shape[1:])} but the config says {want}; "
                "fix data.channels/height/width"
            )

    # -- loaders -------------------------------------------------------------------------------
    def _loader(self, split: str, train: bool) -> TensorBatches:
        self.setup()
        x, y = self.device_split(split)
        rank, world = 0, 1
        if self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        bs = self.batch_size if train else self.eval_batch_size
        on_gpu = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda" and not x.is_cuda
        group, limit = 1, None
        if train and self.trainer is not None:
            group = getattr(self.trainer.lightning_module, "steps_per_call", 1)
            limit = self.trainer.limit_train_batches if isinstance(self.trainer.limit_train_batches, int) else None
        return TensorBatches(x, y, bs, shuffle=train, drop_last=train and len(x) >= bs * world,
                             seed=self.seed, rank=rank, world_size=world, pin_memory=self.pin_memory and on_gpu,
                             progress=self._fit_progress if train and self.trainer is not None else None,
                             group=group, max_batches=limit if group > 1 else None)

    def device_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The split the loaders slice: on a GPU, a copy held in its memory (`data.resident`: auto where the split
        takes at most a quarter of the free memory, true always, false never), so a batch is a slice on the device
        and no copy per step; elsewhere, and for evaluation code (`splits`, `tensors`), the host tensors."""
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if device is not None and device.type != "cuda" and self.resident is True and not self._said_host:
            self._said_host = True
            log.info("data.resident=true holds data sets in GPU memory; on %s they stay in host memory", device.type)
        if device is None or device.type != "cuda" or self.resident is False:
            return self.splits[split]
        if split not in self._on_device:
            x, y = self.splits[split]
            size = x.numel() * x.element_size() + y.numel() * y.element_size()
            if self.resident == "auto" and size > torch.cuda.mem_get_info(device)[0] / 4:
                return x, y
            self._on_device[split] = (x.to(device), y.to(device))
        return self._on_device[split]

    def _fit_progress(self) -> tuple[int, int]:
        """(epoch, batches of it already trained): non-zero only when a checkpoint written mid-epoch was
        restored into `trained` (Lightning checkpoints a datamodule's `state_dict`)."""
        epoch = self.trainer.current_epoch
        return epoch, self.trained["batches"] if self.trained["epoch"] == epoch else 0

    def state_dict(self) -> dict:
        return dict(self.trained)

    def load_state_dict(self, state_dict: dict) -> None:
        self.trained = dict(state_dict)

    def train_dataloader(self):
        return self._loader("train", train=True)

    def val_dataloader(self):
        return self._loader("val", train=False)

    def test_dataloader(self):
        return self._loader("test", train=False)

    def predict_dataloader(self):
        return self._loader("test", train=False)

    # -- batched transforms, on the device after transfer ----------------------------------------
    def transform(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        return model_input(x, self.value_range, bernoulli=self.binarize == "dynamic" and train)

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """Our batches are an (images, labels) pair: move the two tensors (labels may be None) directly.
        Lightning's default walks any collection, about 0.1 ms a step of host time."""
        return tuple(t if t is None else t.to(device, non_blocking=True) for t in batch)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        train = self.trainer is not None and self.trainer.training
        if train:  # one more training batch of this epoch: what `state_dict` reports
            epoch = self.trainer.current_epoch
            done = self.trained["batches"] if self.trained["epoch"] == epoch else 0
            self.trained = {"epoch": epoch, "batches": done + math.ceil(len(x) / self.batch_size)}
        return self.transform(x, train), y

    def not_trained(self, batches: int) -> None:
        """The model stopped at trainer.max_steps before the last `batches` of a fused call: `state_dict` must not
        count them as trained: a run extended from that checkpoint trains them first (see `TensorBatches._cuts`)."""
        self.trained = {**self.trained, "batches": self.trained["batches"] - batches}

    # -- helpers for evaluation code -------------------------------------------------------------
    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole split, transformed (no dynamic noise), for evaluation and benchmarks."""
        self.setup()
        x, y = self.splits[split]
        return self.transform(x, train=False), y

    def missing(self, path: Path, what: str) -> UserError:
        return UserError(
            f"{self.name}: no {what} found in {path}; put the files there or point {data_dir_key()}=... at a "
            f"folder that has them (downloading needs network and data.download=true)"
        )


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 or float [0, 1] images as float in [0, 1]."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def model_input(x: torch.Tensor, value_range=(0.0, 1.0), bernoulli: bool = False, generator=None) -> torch.Tensor:
    """Images as the models take them: float, scaled from [0, 1] to `value_range`; with `bernoulli`, each pixel
    first drawn with its grey level as probability (the binarised-MNIST protocol). The datamodules' batches and
    a trained model's `preprocess` (lightning_ae.models.base) both go through here."""
    x = to_unit(x)
    if bernoulli:
        x = torch.bernoulli(x, generator=generator)
    lo, hi = value_range
    if (lo, hi) != (0.0, 1.0):
        x = x * (hi - lo) + lo
    return x


def data_dir_key() -> str:
    """The setting that chose the data folder, as the user gave it: `data.data_dir=` or `paths.data_dir=` on
    the command line, else the LIGHTNING_AE_DATA variable if set, else paths.data_dir (conf/paths/)."""
    import os

    from hydra.core.hydra_config import HydraConfig

    given = [o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task] \
        if HydraConfig.initialized() else []
    for key in ("data.data_dir", "paths.data_dir"):
        if key in given:
            return key
    return "LIGHTNING_AE_DATA" if os.environ.get("LIGHTNING_AE_DATA") else "paths.data_dir"
