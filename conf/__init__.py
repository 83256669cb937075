"""Hydra configs, shipped in the wheel as `lightning_ae.conf` (see pyproject.toml)."""
