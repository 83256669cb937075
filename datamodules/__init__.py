"""LightningDataModules, one per data source; all hold their data in memory as tensors (see base.py)."""
from .base import InMemoryDataModule, TensorBatches
from .celeba import CelebADataModule
from .cifar10 import CIFAR10DataModule
from .digits import DigitsDataModule
from .folder import FolderDataModule
from .lines import LinesDataModule, render_lines
from .mnist import FashionMNISTDataModule, MNISTDataModule

__all__ = [
    "InMemoryDataModule", "TensorBatches", "CelebADataModule", "CIFAR10DataModule", "DigitsDataModule",
    "FolderDataModule", "LinesDataModule", "render_lines", "FashionMNISTDataModule", "MNISTDataModule",
]
