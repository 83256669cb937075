"""The config tree composes for every group option, and sizes follow the data by interpolation."""
from __future__ import annotations

import inspect
import pickle

import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate

from lightning_ae import config_options
from tests.conftest import DATASETS, compose_cfg


@pytest.mark.parametrize("data", DATASETS)
def test_model_shape_follows_data(data, tmp_path):
    cfg = compose_cfg([f"data={data}", "model=vae"], tmp_path)
    assert list(cfg.model.shape) == [cfg.data.channels, cfg.data.height, cfg.data.width]
    assert cfg.model.likelihood == cfg.data.likelihood


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks", "optimizer", "scheduler", "experiment"])
def test_every_option_composes(group, tmp_path):
    options = config_options(group)
    assert options, f"conf/{group}/ has no options"
    for option in options:
        cfg = compose_cfg([f"{group}={option}"], tmp_path)
        assert cfg.model._target_


def test_precision_and_trainer_groups(tmp_path):
    cfg = compose_cfg(["trainer=ddp", "trainer.precision=bf16-mixed"], tmp_path)
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2 and cfg.trainer.precision == "bf16-mixed"
    assert compose_cfg(["trainer=cpu"], tmp_path).trainer.accelerator == "cpu"


def test_trainer_node_declares_every_trainer_argument(tmp_path):
    params = inspect.signature(pl.Trainer.__init__).parameters.values()
    names = {p.name for p in params if p.kind is p.KEYWORD_ONLY} - {"logger", "callbacks", "plugins"}
    for option in config_options("trainer"):
        assert set(compose_cfg([f"trainer={option}"], tmp_path).trainer) == names | {"_target_"}, option


@pytest.mark.parametrize("arg", ["trainer.limit_train_batches=2", "+trainer.limit_train_batches=2"])
def test_a_schema_key_with_a_null_default_reaches_the_trainer_with_or_without_plus(arg, tmp_path):
    """limit_train_batches is in the trainer schema (default None), so `+` is accepted but not needed."""
    cfg = compose_cfg([arg, "trainer.num_sanity_val_steps=0", "trainer.accelerator=cpu"], tmp_path)
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False, enable_model_summary=False)
    assert (trainer.limit_train_batches, trainer.num_sanity_val_steps, trainer.max_epochs) == (2, 0, 30)


def test_composed_config_pickles_for_launchers(tmp_path):
    """Multirun launchers (submitit, joblib) and ddp_spawn send the composed config to other processes."""
    cfg = compose_cfg(["trainer.limit_train_batches=2"], tmp_path)
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_several_loggers(tmp_path):
    cfg = compose_cfg(["logger=[csv,tensorboard]"], tmp_path)
    assert set(cfg.logger) == {"csv", "tensorboard"}
    assert set(compose_cfg(["logger=many"], tmp_path).logger) == {"csv", "tensorboard", "wandb"}
