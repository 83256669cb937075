"""Callbacks the configs in conf/callbacks/ refer to."""
from .fault_tolerance import FiniteLoss, LastCheckpoint
from .image_grids import ImageGrids

__all__ = ["FiniteLoss", "ImageGrids", "LastCheckpoint"]
