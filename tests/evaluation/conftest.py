"""Fixtures shared by the evaluation tests: the digits data and one FID classifier cache per session."""
from __future__ import annotations

import pytest

from datamodules import DigitsDataModule


@pytest.fixture(scope="session")
def digits():
    dm = DigitsDataModule(channels=1, height=8, width=8, num_classes=10, val_size=150, test_size=297)
    dm.setup()
    return dm


@pytest.fixture(scope="session")
def fid_cache(tmp_path_factory):
    """Where the digits FID classifier is trained once (1 epoch, as in evaluation=fast) and reused."""
    return tmp_path_factory.mktemp("fid_cache")
