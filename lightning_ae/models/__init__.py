"""One LightningModule per variant, each in its own file; shared plumbing in base.py."""
from .base import AutoencoderModule

__all__ = ["AutoencoderModule"]
