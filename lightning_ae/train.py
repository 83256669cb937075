"""The training entry point: `python -m lightning_ae [overrides]`, also installed as `lightning-ae`.

Composes conf/train.yaml, builds datamodule, model, callbacks, loggers and trainer from it, fits, tests
on the best checkpoint, writes `metrics.json` in the run dir and returns `optimized_metric` (for sweepers).
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_ae.cli import check_overrides
from lightning_ae.errors import UserError, user_errors

log = logging.getLogger("lightning_ae")


def build(cfg: DictConfig, target: str):
    """Instantiate `cfg[target]`, surfacing our own one-line errors from inside Hydra's wrapper."""
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(cfg[target])
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise UserError(f"cannot build `{target}` from the config: {str(e).splitlines()[-1]}") from None


def build_all(cfg: DictConfig, group: str) -> list:
    node = cfg.get(group) or {}
    return [hydra.utils.instantiate(c) for c in node.values() if c is not None and "_target_" in c]


def run(cfg: DictConfig) -> float | None:
    import pytorch_lightning as pl

    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    config = OmegaConf.to_container(cfg, resolve=True)
    datamodule = build(cfg, "data")
    model = build(cfg, "model")
    model.run_config = config
    callbacks, loggers = build_all(cfg, "callbacks"), build_all(cfg, "logger")
    find_unused_parameters(cfg, model)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(config)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(ckpt_path).is_file():
        raise UserError(f"ckpt_path={ckpt_path} does not exist; give the path of a .ckpt file to resume from")
    try:
        if cfg.get("train", True):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        if cfg.get("test", True):
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if cfg.get("test", True):
            metrics.update(evaluate_after_training(cfg, trainer, model, datamodule))
        if trainer.is_global_zero:
            out = Path(cfg.paths.output_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        return metrics.get(cfg.get("optimized_metric") or "", None)
    finally:
        finish_wandb()


def evaluate_after_training(cfg: DictConfig, trainer, model, datamodule) -> dict[str, float]:
    """The evaluation suite (lightning_ae.evaluation) on the trained model; its metrics join metrics.json."""
    return {}


def find_unused_parameters(cfg: DictConfig, model) -> None:
    """Models whose steps each touch part of the network (several optimizers) need DDP's unused-parameter
    search: switch a plain ddp / ddp_spawn / auto multi-device strategy to its find_unused variant."""
    if not getattr(model, "find_unused_parameters", False):
        return
    strategy = cfg.trainer.get("strategy", "auto")
    if strategy in (None, "auto", "ddp", "ddp_spawn") and cfg.trainer.get("devices", 1) not in (1, "1"):
        with open_dict(cfg):
            cfg.trainer.strategy = f"{'ddp_spawn' if strategy == 'ddp_spawn' else 'ddp'}_find_unused_parameters_true"


def finish_wandb() -> None:
    """End the W&B run of this job so that every multirun job gets a run of its own."""
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish()


@hydra.main(version_base="1.3", config_path="pkg://lightning_ae.conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    with user_errors():
        return run(cfg)


def main() -> None:
    with user_errors():
        check_overrides(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
