"""Callbacks the configs in conf/callbacks/ refer to."""
from .image_grids import ImageGrids

__all__ = ["ImageGrids"]
