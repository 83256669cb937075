"""Callbacks the configs in conf/callbacks/ refer to."""
from .fault_tolerance import FiniteLoss, SaveOnSigterm
from .image_grids import ImageGrids

__all__ = ["FiniteLoss", "ImageGrids", "SaveOnSigterm"]
