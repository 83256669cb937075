"""The evaluation entry point: `python -m lightning_ae.eval ckpt_path=... [data=...]`, also `lightning-ae-eval`.

Loads any lightning_ae checkpoint (the model is rebuilt from the config stored inside it), evaluates it on
the checkpoint's own data config (or `data=<name>`) with every metric that applies to its variant
(lightning_ae/evaluation/suite.py), writes `<run dir>/eval.json`, logs `eval/<metric>` to the configured
loggers and prints a table.
"""
from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from lightning_ae import config_options
from lightning_ae.cli import check_overrides
from lightning_ae.errors import UserError, user_errors

log = logging.getLogger("lightning_ae")


def run(cfg: DictConfig) -> dict[str, float]:
    """`evaluate_checkpoint` in a run directory of its own, which a refused evaluation leaves as it found it
    (a time-stamped one it removes again: nothing is written before every check has passed)."""
    from lightning_ae.run_dir import forget_if_empty, release
    from lightning_ae.safe_load import trusting

    out = Path(cfg.paths.output_dir)
    fresh = out.is_dir() and not any(out.iterdir())
    try:
        with trusting(cfg.get("trust_checkpoint")):  # what ckpt_path (and a prior's model.vqvae_ckpt) may hold
            return evaluate_checkpoint(cfg)
    finally:
        release()
        if fresh:
            forget_if_empty(out)


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    import pytorch_lightning as pl
    import torch

    from lightning_ae.building import build, build_all, finish_wandb, load_model, read_checkpoint, stored_data_config
    from lightning_ae.evaluation.suite import evaluate
    from lightning_ae.run_dir import claim, holds_run, save_run_config

    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise UserError("give the checkpoint to evaluate: python -m lightning_ae.eval ckpt_path=<path to .ckpt>")
    pl.seed_everything(cfg.seed, workers=True)
    ckpt = read_checkpoint(cfg.ckpt_path)
    model = load_model(cfg.ckpt_path, ckpt)
    stored = ckpt["lightning_ae"]["config"]
    datamodule = build(OmegaConf.create({"data": stored_data_config(stored, cfg.get("data"))}), "data")
    if tuple(datamodule.shape) != tuple(model.shape):
        raise UserError(f"the checkpoint's model takes images of shape {tuple(model.shape)} but the data gives "
                        f"{tuple(datamodule.shape)}; evaluate on the data it was trained on (drop data=...)")
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.evaluation.parts.get("interpolation") and not cfg.evaluation.interpolation.get("dir"):
        cfg.evaluation.interpolation.dir = str(cfg.paths.output_dir)  # the strips go beside eval.json
    # every check done: one process writes here; the evaluation's record goes to .hydra/ unless the directory
    # holds a run (hydra.run.dir=<a training run>: eval.json lands beside its checkpoints, its record untouched)
    if holds_run(Path(cfg.paths.output_dir)) is None:
        claim(cfg.paths.output_dir, resuming=False)
        save_run_config(cfg)
    else:
        claim(cfg.paths.output_dir, resuming=True)
    metrics = evaluate(model, datamodule, cfg.evaluation, device=device)
    report = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "model": stored["model"].get("_target_"),
        "data": getattr(datamodule, "name", None),
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
        "evaluation": OmegaConf.to_container(cfg.evaluation, resolve=True),
        "metrics": metrics,
    }
    out = Path(cfg.paths.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    try:
        for logger in build_all(cfg, "logger"):
            logger.log_hyperparams({"ckpt_path": report["checkpoint"], "model": report["model"], "data": report["data"]})
            logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=int(ckpt.get("global_step") or 0))
            logger.finalize("success")
    finally:
        finish_wandb()
    print(format_table(metrics, title=f"{report['model']} on {report['data']}: {report['checkpoint']}"))
    log.info("eval.json (these metrics, the checkpoint, the evaluation settings): %s", out / "eval.json")
    return metrics


def format_table(metrics: dict[str, float], title: str = "") -> str:
    def fmt(v: float) -> str:
        return "inf" if math.isinf(v) else "nan" if math.isnan(v) else f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"

    width = max([len(k) for k in metrics] + [6])
    lines = [title, f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 10}"] if title else []
    lines += [f"{k:<{width}}  {fmt(v)}" for k, v in sorted(metrics.items())]
    return "\n".join(lines)


def check_evaluation_override(args: list[str]) -> None:
    options = config_options("evaluation")
    for arg in args:
        if arg.startswith("evaluation=") and arg.split("=", 1)[1] not in options:
            raise UserError(f"unknown evaluation '{arg.split('=', 1)[1]}'; available: {', '.join(options)}")


@hydra.main(version_base="1.3", config_path="pkg://lightning_ae.conf", config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


def main() -> None:
    with user_errors():
        check_overrides(sys.argv[1:])
        check_evaluation_override(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
