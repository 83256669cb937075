"""Nothing lost, nothing silently ignored: a bad input leaves a finished run as it was, and ends in one line."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
RECORD = ("config.yaml", "overrides.yaml", "hydra.yaml")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A one-epoch AE run on digits, trained once per module; tests work on copies of it."""
    cwd = tmp_path_factory.mktemp("finished")
    res = run_cli(["hydra.run.dir=run", "trainer.max_epochs=1", "test=false", *QUIET], cwd)
    assert res.returncode == 0, res.stderr[-2000:]
    return cwd / "run"


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


def one_error_line(res) -> str:
    """The only line on stderr, checked to be our `error:` line with exit status 2."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-3000:]
    return lines[0]


def test_bad_input_leaves_the_run_record_byte_identical(run_copy, tmp_path):
    before = {n: (run_copy / ".hydra" / n).read_bytes() for n in RECORD}
    one_error_line(run_cli([f"hydra.run.dir={run_copy}", "model.latent_dim=-3"], tmp_path))
    assert {n: (run_copy / ".hydra" / n).read_bytes() for n in RECORD} == before
