"""Hydra configs, shipped in the wheel as `lightning_ae.conf` (see pyproject.toml)."""
from lightning_ae.schema import register

register()  # trainer_schema: every pytorch_lightning.Trainer argument, so trainer.<name>=... composes
