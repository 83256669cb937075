"""The training entry point: `python -m lightning_ae [overrides]`, also installed as `lightning-ae`.

Composes conf/train.yaml, builds datamodule, model, callbacks, loggers and trainer from it, fits, tests
on the best checkpoint, writes `metrics.json` in the run dir and returns `optimized_metric` (for sweepers).
"""
from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_ae.building import build, build_all, finish_wandb
from lightning_ae.cli import check_overrides, check_values, torchrun_overrides, unknown_key
from lightning_ae.errors import Interrupted, Preempted, UserError, user_errors

log = logging.getLogger("lightning_ae")


def run(cfg: DictConfig) -> float | None:
    """The training job in a run directory of its own: nothing is written there before every check has passed
    (lightning_ae/run_dir.py), and Ctrl-C stops like a pre-emption (lightning_ae/interrupts.py)."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException  # after Hydra has set up logging

    from lightning_ae.interrupts import CtrlC
    from lightning_ae.run_dir import forget_if_empty, release
    from lightning_ae.safe_load import trusting

    out = Path(cfg.paths.output_dir)
    fresh = out.is_dir() and not any(out.iterdir())  # made by Hydra for this run: removed again if left empty
    # trusting: what ckpt_path, resume=auto and model.vqvae_ckpt may hold
    with CtrlC() as ctrl_c, trusting(cfg.get("trust_checkpoint")):
        try:
            return train_and_test(cfg, ctrl_c)
        except KeyboardInterrupt:  # outside a trainer call: there was no training to save
            raise Interrupted("stopped by Ctrl-C; rerun the same command (with resume=auto) to continue") from None
        except SIGTERMException:  # in trainer.test (fit turns its own into a line): training had finished
            by, error = ("Ctrl-C", Interrupted) if ctrl_c.pressed else ("SIGTERM", Preempted)
            raise error(f"stopped by {by} while testing, after training; the trained weights are in "
                        f"{out / 'checkpoints'}: score them with python -m lightning_ae.eval ckpt_path=...") from None
        finally:
            release()
            if fresh:
                forget_if_empty(out)


def train_and_test(cfg: DictConfig, ctrl_c) -> float | None:
    import pytorch_lightning as pl  # imported here, after Hydra has set up logging

    apply_logger_levels()
    skip_nvml_check_without_gpu()

    from lightning_ae.checkpointing import check_shapes_match, resolve_ckpt_path
    from lightning_ae.data_identity import check_same_data, data_identity
    from lightning_ae.run_dir import save_run_config

    check_no_missing_values(cfg)
    unfuse_for_lightning_loop_options(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    config = OmegaConf.to_container(cfg, resolve=True)
    ckpt_path = resolve_ckpt_path(cfg)
    check_devices(cfg)
    check_optimizers(cfg)
    datamodule = build(cfg, "data")
    model = build(cfg, "model")
    if ckpt_path:
        check_shapes_match(ckpt_path, model, config)
    model.run_config = config
    callbacks, loggers = build_all(cfg, "callbacks"), build_all(cfg, "logger")
    find_unused_parameters(cfg, model)
    trainer = build_trainer(cfg, callbacks, loggers)
    if "spawn" not in str(cfg.trainer.get("strategy")):  # spawned processes would get the loaded data pickled
        datamodule.setup("fit")  # a missing or unreadable data set is found before anything is written
    if hasattr(model, "check_data"):  # the model's own demands on the data (CVAE: labels)
        model.check_data(datamodule)
    warn_batch_larger_than_data(datamodule)
    model.data_identity = data_identity(config.get("data") or {}, datamodule)
    if ckpt_path:
        check_same_data(ckpt_path, model.data_identity, bool(cfg.get("resume_on_other_data")))
    claim_run_dir(cfg, ckpt_path, trainer, loggers)
    if trainer.is_global_zero:
        save_run_config(cfg)
    for logger in loggers:
        logger.log_hyperparams(config)
    try:
        metrics: dict[str, float] = {}
        if cfg.get("train", True):
            fit(trainer, model, datamodule, ckpt_path, ctrl_c)
            metrics |= scalars(trainer.callback_metrics)  # last epoch's train/val metrics
        if cfg.get("test", True):
            best = getattr(trainer.checkpoint_callback, "best_model_path", "")
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
            metrics |= scalars(trainer.callback_metrics)
        leave_process_group(trainer)
        if cfg.get("test", True):
            metrics.update(evaluate_after_training(cfg, trainer, model, datamodule))
        if trainer.is_global_zero:
            out = Path(cfg.paths.output_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
            log.info("run directory: %s (checkpoints/, metrics.json, images/, .hydra/)", out.resolve())
        return metrics.get(cfg.get("optimized_metric") or "", None)
    finally:
        finish_wandb()


def apply_logger_levels() -> None:
    """Re-apply the logger levels of `hydra.job_logging` (conf/hydra/default.yaml): importing Lightning resets
    its own loggers to INFO, after Hydra has configured them."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        for name, spec in (HydraConfig.get().job_logging.get("loggers") or {}).items():
            if spec and spec.get("level"):
                logging.getLogger(name).setLevel(spec.level)


def unfuse_for_lightning_loop_options(cfg: DictConfig) -> None:
    """model.fused_steps > 1 steps the optimizer inside training_step (manual optimization), where Lightning's
    trainer.gradient_clip_val and accumulate_grad_batches do not apply: with either set, the model trains in
    Lightning's automatic loop (fused_steps=1), and says so."""
    if cfg.model.get("fused_steps", 1) > 1:
        for key, off in (("gradient_clip_val", None), ("accumulate_grad_batches", 1)):
            if cfg.trainer.get(key, off) not in (off, 0):
                log.info("trainer.%s is applied by Lightning's automatic loop: model.fused_steps=1 in this run", key)
                with open_dict(cfg):
                    cfg.model.fused_steps = 1
                return


def skip_nvml_check_without_gpu() -> None:
    """Importing Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1, so that asking whether CUDA is there cannot
    initialise it before processes fork. Without an NVIDIA device that makes each `torch.cuda.is_available()` try
    to load the NVML library again (Adam asks on every step: about 40 µs); there is nothing to protect then, so
    the variable is dropped."""
    import os

    import torch

    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


def fit(trainer, model, datamodule, ckpt_path: str | None, ctrl_c=None) -> None:
    """`trainer.fit`; a SIGTERM (Lightning saves last.ckpt, then exits with status 0) becomes status 143 and a
    line saying where the checkpoint is, so that schedulers and users see the pre-emption; a Ctrl-C, passed
    on as a SIGTERM (lightning_ae/interrupts.py), the same line with status 130."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from lightning_ae.callbacks.fault_tolerance import last_checkpoint
    from lightning_ae.safe_load import trusted
    from lightning_ae.slurm import SubmititTimeout

    try:
        with SubmititTimeout() as slurm_timeout:  # a SLURM time limit under submitit: the same stop, then requeue
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=not trusted())
    except SIGTERMException:
        last = last_checkpoint(trainer)
        where = f"{last} holds it; rerun the same command with resume=auto to continue" if last else \
            "no checkpoint was written (callbacks.last_checkpoint is off)"
        slurm_timeout.forward(f"stopped at step {trainer.global_step}; {last}")
        by, error = ("Ctrl-C", Interrupted) if ctrl_c is not None and ctrl_c.pressed else ("SIGTERM", Preempted)
        raise error(f"stopped by {by} at step {trainer.global_step}; {where}") from None


def warn_batch_larger_than_data(datamodule) -> None:
    """data.batch_size above the number of training images: each epoch is one (smaller) batch; said once."""
    train = (getattr(datamodule, "splits", None) or {}).get("train")
    batch = getattr(datamodule, "batch_size", None)
    if train is not None and batch and batch > len(train[0]):
        log.warning("data.batch_size=%d is larger than the training set (%d images): every epoch is a single "
                    "batch of %d; lower data.batch_size", batch, len(train[0]), len(train[0]))


def claim_run_dir(cfg: DictConfig, ckpt_path: str | None, trainer, loggers: list) -> None:
    """Every check has passed: make the run directory this run's (lightning_ae/run_dir.py: no new run over an
    old one, one process at a time). A resume=auto that found no checkpoint starts over: the metrics history
    of the earlier attempt is set aside (csv/metrics.<n>.csv), never truncated."""
    from lightning_ae.loggers import ContinuingCSVLogger
    from lightning_ae.run_dir import claim

    out = Path(cfg.paths.output_dir).resolve()
    inside = bool(ckpt_path) and Path(ckpt_path).resolve().is_relative_to(out)
    claim(out, resuming=cfg.get("resume") == "auto" or inside, rank_zero=trainer.is_global_zero)
    if trainer.is_global_zero and cfg.get("resume") == "auto" and not ckpt_path:
        for logger in loggers:
            if isinstance(logger, ContinuingCSVLogger) and (kept := logger.set_aside_history()):
                log.info("resume=auto: no checkpoint to continue from, so this run starts over; the earlier "
                         "history is kept as %s", kept)


def scalars(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v.numel() == 1 and k not in ("step", "epoch")}  # log_step


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list):
    """The Trainer from cfg.trainer, writing checkpoints atomically; an unknown option is one line."""
    import torch
    from hydra.errors import InstantiationException

    from lightning_ae.checkpointing import AtomicCheckpointIO

    if cfg.trainer.get("sync_batchnorm") and cfg.trainer.get("accelerator") in ("cpu", "auto") \
            and not torch.cuda.is_available():
        log.info("trainer.sync_batchnorm needs GPUs; batch norm statistics stay per process on CPU")
        with open_dict(cfg):
            cfg.trainer.sync_batchnorm = False
    try:
        return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                       plugins=[AtomicCheckpointIO()])
    except InstantiationException as e:
        text = str(e.__cause__ or e)
        if "unexpected keyword argument" in text:  # a +trainer.<typo> that no command-line check saw
            bad = text.split("unexpected keyword argument", 1)[1].strip(" '\"")
            raise UserError(unknown_key(f"trainer.{bad}", cfg)) from None
        raise UserError(f"cannot build the trainer from cfg.trainer: {' '.join(text.split())}") from None


def check_no_missing_values(cfg: DictConfig) -> None:
    """A mandatory key left at `???` (e.g. `data.path` of data=folder) becomes one line naming it."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(f"{', '.join(missing)} must be set for this config; add "
                        f"{' '.join(k + '=...' for k in missing)} to the command line")


def check_optimizers(cfg: DictConfig) -> None:
    """Build each configured optimizer on a stand-in parameter: `optimizer`, and the extra optimizers of the
    adversarial variants (`model.*_optimizer`: that optimizer with the arguments given there replaced, as
    `ManualOptimization.follow_optimizer` builds them), so that values torch refuses (`optimizer.lr=-1`,
    `model.critic_optimizer.lr=-1`, betas outside [0, 1)) are one line naming the key."""
    import torch

    main = cfg.get("optimizer")
    if not isinstance(main, DictConfig) or "_target_" not in main:
        return
    optimizer = hydra.utils.instantiate(main)
    nodes = {"optimizer": {}} | {f"model.{k}": v for k, v in (cfg.get("model") or {}).items()
                                 if str(k).endswith("_optimizer") and isinstance(v, DictConfig)}
    for key, replaced in nodes.items():
        try:
            optimizer([torch.zeros(1, requires_grad=True)], **replaced)
        except ValueError as e:
            raise UserError(f"{key}: {e}; change {key}.* (see conf/optimizer/)") from None


def check_devices(cfg: DictConfig) -> None:
    """`trainer.devices` larger than this machine has becomes one line (before anything is written)."""
    import os

    import torch

    devices, accelerator = cfg.trainer.get("devices", 1), cfg.trainer.get("accelerator", "auto")
    if not isinstance(devices, int) and not (isinstance(devices, str) and devices.isdigit()):
        return  # "auto", -1 or a list of ids: Lightning checks those
    devices = int(devices)
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    have = torch.cuda.device_count() if gpu else (os.cpu_count() or 1)
    if gpu and have == 0:
        raise UserError(f"trainer.accelerator={accelerator} but this machine has no GPU; use "
                        f"trainer.accelerator=cpu (trainer.devices={devices} then starts {devices} CPU processes)")
    if devices > have:
        kind = "GPU(s)" if gpu else "CPU cores"
        raise UserError(f"trainer.devices={devices} but this machine has {have} {kind}; "
                        f"use trainer.devices={have} or fewer (or trainer.num_nodes=... on a cluster)")


def evaluate_after_training(cfg: DictConfig, trainer, model, datamodule) -> dict[str, float]:
    """The evaluation suite (lightning_ae.evaluation) on the trained model; its metrics join metrics.json.

    Settings: `cfg.evaluation` (conf/evaluation/, e.g. `evaluation.max_images=1000`, `evaluation=fast`);
    `evaluation.enabled=false` skips it. Under fast_dev_run the fast.yaml values win; a short run skips the
    costly parts (`evaluation.after_training`). Keys are `eval/<part>/<metric>`."""
    from lightning_ae.evaluation.suite import after_training, evaluate, preset

    if not cfg.evaluation.enabled or not trainer.is_global_zero:
        return {}
    if trainer.fast_dev_run:
        ev = OmegaConf.merge(cfg.evaluation, preset("fast"))
    else:
        saved = trainer.checkpoint_callback
        ckpt = saved and (saved.best_model_path or saved.last_model_path)
        ev = after_training(cfg.evaluation, trainer.current_epoch, ckpt)
    metrics = {f"eval/{k}": v for k, v in evaluate(model, datamodule, ev, device=trainer.strategy.root_device).items()}
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=trainer.global_step)
        logger.save()
    return metrics


def leave_process_group(trainer) -> None:
    """After fit/test, close DDP's process group on every rank: what follows (evaluation on rank 0,
    writing metrics.json) is single-process, and torchmetrics must not wait for ranks that have left."""
    import torch.distributed as dist

    if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def find_unused_parameters(cfg: DictConfig, model) -> None:
    """Models whose steps each touch part of the network (several optimizers) need DDP's unused-parameter
    search: switch a plain ddp / ddp_spawn / auto multi-device strategy to its find_unused variant."""
    if not getattr(model, "find_unused_parameters", False):
        return
    strategy = cfg.trainer.get("strategy", "auto")
    if strategy in (None, "auto", "ddp", "ddp_spawn") and cfg.trainer.get("devices", 1) not in (1, "1"):
        with open_dict(cfg):
            cfg.trainer.strategy = f"{'ddp_spawn' if strategy == 'ddp_spawn' else 'ddp'}_find_unused_parameters_true"


@hydra.main(version_base="1.3", config_path="pkg://lightning_ae.conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from lightning_ae.sweep import run_job

    with user_errors():
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # a failed job is recorded, and the sweep goes on
            return run_job(run, cfg)
        return run(cfg)


def main() -> None:
    # Lightning's utilities trip torch's LeafSpec deprecation on every run; it says nothing about the user's run.
    # Filtered here, in the entry point, so importing the package changes no global state.
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Where SLURM's `srun` is installed (a login node, a laptop with slurm-wlm), Lightning hints at every run started
    # without it; our SLURM path is the submitit launcher (README: SLURM), and a bad input stays one line.
    warnings.filterwarnings("ignore", message=".*srun. command is available on your system.*")
    with user_errors():
        sys.argv += torchrun_overrides(sys.argv[1:])
        check_overrides(sys.argv[1:])
        check_values(sys.argv[1:])
    _hydra_main()
    from lightning_ae.sweep import failed_jobs

    if failed_jobs:  # a grid sweep ran every job; its status says that some failed (summary.md has their lines)
        print(f"error: {len(failed_jobs)} sweep job(s) failed ({', '.join(failed_jobs)}): their errors are in "
              "summary.md and each job's error.txt", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
