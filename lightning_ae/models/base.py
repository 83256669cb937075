"""What every variant shares: the interface, optimizer set-up from config, per-split logging.

A variant subclasses `AutoencoderModule`, builds its networks in `__init__`, and implements
`encode`, `decode` and `loss(batch) -> {"loss": ..., other terms}`. Everything a variant logs comes
from that dict: `train/<term>` per step, and per epoch `train/<term>_epoch`, `val/<term>`, `test/<term>`,
each averaged with a torchmetrics `MeanMetric` (weighted by batch size, reduced across DDP ranks once
per epoch, not every step).
"""
from __future__ import annotations

import functools
import logging
import math
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric, Metric

from lightning_ae.errors import UserError
from lightning_ae.likelihoods import Likelihood

log = logging.getLogger("lightning_ae")


class AutoencoderModule(pl.LightningModule):
    #: names of the terms `loss()` returns; each gets a MeanMetric per evaluation split
    loss_terms: tuple[str, ...] = ("loss",)
    #: whether `sample(n)` draws from a prior
    can_sample = False
    #: whether model.fused_steps > 1 may run several of its optimizer steps per call (not for variants that step
    #: their own optimizers, or whose schedules count Lightning's batches)
    can_fuse = True
    #: networks model.compile leaves as they are (those a loss differentiates twice: a compiled backward cannot be)
    not_compiled: tuple[str, ...] = ()

    def __init__(
        self,
        shape: list[int],
        latent_dim: int,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        likelihood: str = "bernoulli",
        likelihood_std: float = 0.1,
        compile: bool = False,
        fused_steps: int = 1,
    ):
        super().__init__()
        if int(latent_dim) <= 0:
            raise UserError(f"model.latent_dim must be a positive integer, got {latent_dim}")
        if int(fused_steps) < 1:
            raise UserError(f"model.fused_steps must be a positive integer, got {fused_steps}")
        if int(fused_steps) > 1 and not self.can_fuse:
            raise UserError(f"{type(self).__name__} runs its own steps per batch: set model.fused_steps=1")
        self.shape = tuple(int(s) for s in shape)
        self.latent_dim = int(latent_dim)
        self.optimizer_factory = optimizer or functools.partial(torch.optim.Adam, lr=1e-3)  # as conf/optimizer/adam
        self.scheduler_factory = scheduler if callable(scheduler) else None  # scheduler=none composes to {}
        self.compile_networks = bool(compile)  # model.compile: see configure_model
        self.networks_compiled = False
        self.likelihood = Likelihood(likelihood, likelihood_std)
        self.meters = nn.ModuleDict(
            {f"{split}_{term}": MeanMetric() for split in ("val", "test") for term in self.loss_terms}
        )
        #: the resolved run config, stored in every checkpoint (set by the train entry point)
        self.run_config: dict | None = None
        self._train_sums: dict[tuple[str, ...], tuple[torch.Tensor, int]] = {}
        #: this batch's training terms, (step, names, values), one entry per `log_train` call (see FiniteLoss)
        self.step_values: list[tuple[int, tuple[str, ...], torch.Tensor]] = []
        #: model.fused_steps > 1: several optimizer steps per `training_step` call (see `fused_training_step`)
        self.fused_steps = int(fused_steps)
        self.steps_per_call = 1  # this fit's number, set at fit start (`plan_fused_steps`)
        if self.fused_steps > 1:
            self.automatic_optimization = False

    # -- the interface every variant exposes -------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent → image in data space."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no prior to sample from")

    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode `steps` points on the line between the codes of x1 and x2: [B, steps, C, H, W]."""
        z1, z2 = self.encode(x1), self.encode(x2)
        alpha = torch.linspace(0, 1, steps, device=z1.device).view(1, steps, *([1] * (z1.dim() - 1)))
        z = (1 - alpha) * z1.unsqueeze(1) + alpha * z2.unsqueeze(1)
        return self.decode(z.flatten(0, 1)).unflatten(0, (len(x1), steps))

    def preprocess(self, images, generator: torch.Generator | None = None) -> torch.Tensor:
        """A user's images as this model takes them, prepared as its training data was (datamodules/base.py):
        uint8 0..255 or float in [0, 1], as [N, C, H, W], [N, H, W, C] or (one channel) [N, H, W]; centre-cropped
        where the data config crops (CelebA), resized to the trained H×W (bilinear, antialiased, like data=folder),
        scaled to the data's value range, and under data.binarize drawn pixel by pixel as Bernoulli variables with
        the grey level as probability (the binarised-MNIST protocol, never a threshold; `generator` fixes the draw)."""
        import torch.nn.functional as F

        from datamodules.base import model_input, to_unit

        data = (self.run_config or {}).get("data") or {}
        c, h, w = self.shape
        x = torch.as_tensor(images)
        if x.dim() == 3 and c == 1:
            x = x.unsqueeze(1)
        if x.dim() == 4 and x.shape[1] != c and x.shape[-1] == c:
            x = x.permute(0, 3, 1, 2)
        if x.dim() != 4 or x.shape[1] != c:
            raise UserError(f"preprocess takes a batch of {c}-channel images ([N, {c}, H, W], [N, H, W, {c}]"
                            f"{' or [N, H, W]' if c == 1 else ''}), got shape {tuple(x.shape)}")
        x = to_unit(x.to(self.device))
        crop = data.get("crop")
        if crop and min(x.shape[-2:]) >= crop:
            top, left = (x.shape[-2] - crop) // 2, (x.shape[-1] - crop) // 2
            x = x[..., top : top + crop, left : left + crop]
        if tuple(x.shape[-2:]) != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
        return model_input(x, tuple(data.get("value_range", (0.0, 1.0))), bernoulli=data.get("binarize") is not None,
                           generator=generator)

    def portable_config(self) -> dict:
        """The model config that rebuilds this model from its weights alone, with no other file (an exported
        folder's config.yaml, lightning_ae.export)."""
        return dict((self.run_config or {})["model"])

    def image_grids(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named image batches [N, C, H, W] for the ImageGrids callback; rows of `nrow` images."""
        n = min(8, len(x))
        grids = {"reconstructions": torch.stack([x[:n], self.reconstruct(x[:n])], 1).flatten(0, 1)}
        if self.can_sample:
            grids["samples"] = self.sample(64)
        if len(x) >= 2:
            k = min(8, len(x) // 2)
            grids["interpolations"] = self.interpolate(x[:k], x[k : 2 * k], steps=8).flatten(0, 1)
        return grids

    # -- model.compile=true ---------------------------------------------------------------------------
    def configure_model(self) -> None:
        """With model.compile=true, torch.compile every network in place (`nn.Module.compile`: parameter names,
        checkpoints and optimizers stay as they are). Lightning calls this hook before each fit/validate/test;
        the first call compiles, the modules then stay compiled."""
        if self.compile_networks and not self.networks_compiled:
            networks = list(self.networks())
            # every module's graphs share one cache (that of Module.__call__), capped at recompile_limit graphs,
            # past which the rest run uncompiled: give each network the 8 graphs one compiled function has alone
            config = torch._dynamo.config
            config.recompile_limit = max(config.recompile_limit, 8 * len(networks))
            config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, config.recompile_limit)
            for net in networks:
                net.compile()
            self.networks_compiled = True

    def networks(self, module: nn.Module | None = None):
        """The modules whose forward the variant calls: every child with a forward of its own. Containers
        without one (ModuleList/ModuleDict, NVAE's HierarchicalVAE) and a nested model (the prior's frozen
        VQ-VAE) are searched inside; metrics and the variant's `not_compiled` networks are left out."""
        for name, child in (self if module is None else module).named_children():
            if isinstance(child, Metric) or module is None and name in self.not_compiled:
                continue
            if type(child).forward is nn.Module.forward or isinstance(child, pl.LightningModule):
                yield from self.networks(child)
            else:
                yield child

    # -- training story ------------------------------------------------------------------------
    def loss(self, batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def log_terms(self, split: str, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        """val/test: each term goes into its split's MeanMetric, which is handed to `self.log` once per epoch, at
        its first update; Lightning keeps the metric, computes it (reduced across ranks) when the epoch ends,
        before any `on_*_epoch_end` hook, and resets it. Calling `self.log` on every batch instead costs about 1 ms
        per term and batch on CPU (Lightning moves the logged metric's state to the device on each call).
        train: `log_train`."""
        if split == "train":
            return self.log_train(terms, batch_size)
        for k, v in terms.items():
            meter = self.meters[f"{split}_{k}"]
            first = not meter.update_called
            meter.update(v.detach(), weight=batch_size)
            if first:
                self.log(f"{split}/{k}", meter, prog_bar=k == "loss")
                if k == "loss" and self.steps_per_call > 1:
                    self.log_step()

    def log_train(self, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        """Training terms, kept cheap because it runs every step (several times for some variants). The terms
        become one vector: it is added to a running sum for the epoch means (`train/<term>_epoch`, reduced
        across ranks once, at epoch end) and kept in `step_values` for the FiniteLoss callback. The step values
        (`train/<term>`) go to `self.log` only on the steps Lightning writes to the loggers: every
        `trainer.log_every_n_steps`-th batch, counted as its public `total_batch_idx` (the same count while
        every batch steps the optimizers; under gradient accumulation or fast_dev_run, every batch); with fused
        steps, every n-th optimizer step, its row handed to the loggers by `write_train_row`. Calling `self.log`
        on every step instead costs about 1 ms a step on CPU."""
        names = tuple(terms)
        values = torch.stack([v.detach().float() for v in terms.values()])
        trainer = self.trainer
        fused = self.steps_per_call > 1
        step = trainer.global_step if fused else trainer.fit_loop.epoch_loop.total_batch_idx
        self.step_values.append((step, names, values))  # read by the FiniteLoss callback after the batch
        total, count = self._train_sums.get(names, (0.0, 0))
        self._train_sums[names] = (total + values * batch_size, count + batch_size)
        every = trainer.log_every_n_steps
        if trainer.fast_dev_run or trainer.accumulate_grad_batches > 1 or (every and (step + 1) % every == 0):
            for k, v in zip(names, values):
                self.log(f"train/{k}", v, on_step=True, on_epoch=False, prog_bar=k == "loss", logger=not fused)
            if fused:
                self.write_train_row(step, names, values)

    def write_train_row(self, step: int, names, values) -> None:
        """Fused steps: the `train/<term>` row of optimizer step `step`, handed to the loggers here and saved, as
        Lightning does for a logging step. Lightning's own rows go by training_step calls, several steps each."""
        row = {f"train/{k}": float(v) for k, v in zip(names, values)} | {"epoch": self.current_epoch}
        for logger in self.loggers:
            logger.log_metrics(row, step=step)
            logger.save()

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self.step_values = []

    @property
    def last_train_terms(self) -> dict[str, torch.Tensor]:
        """The latest training step's terms by name (detached)."""
        last = self.step_values[-1][0] if self.step_values else None
        return {k: v for step, names, values in self.step_values if step == last for k, v in zip(names, values)}

    def on_train_epoch_end(self) -> None:
        sums, self._train_sums = self._train_sums, {}
        for names, (total, count) in sums.items():
            for k, mean in zip(names, total / count):
                self.log(f"train/{k}_epoch", mean, on_step=False, on_epoch=True, sync_dist=True)
        if self.steps_per_call > 1:
            self.log_step()
        if self.fused_steps > 1:
            for config in self.trainer.lr_scheduler_configs:  # Lightning steps them only under automatic optimization
                config.scheduler.step()

    def train_batch(self, batch) -> torch.Tensor:
        """One batch's loss, its terms logged."""
        terms = self.loss(batch)
        self.log_terms("train", terms, len(batch[0]))
        return terms["loss"]

    def training_step(self, batch, batch_idx):
        if self.automatic_optimization:
            return self.train_batch(batch)
        self.fused_training_step(batch)

    # -- model.fused_steps ---------------------------------------------------------------------
    def log_step(self) -> None:
        """Fused steps: the optimizer step and epoch of Lightning's next epoch-level row (train/<term>_epoch, val/,
        test/), as without fusing: Lightning keys rows by its count of training_step calls unless a `step` is logged
        (and then adds no epoch). ModelCheckpoint reads both too: a `{step}` in its filename is then this number."""
        step = self.global_step - 1 if self.trainer.training or self.trainer.validating else self.global_step
        # The same on every rank; sync_dist (max: exact for any count) says so, or Lightning warns under DDP.
        self.log("step", float(step), on_step=False, on_epoch=True, sync_dist=True, reduce_fx="max")
        self.log("epoch", float(self.current_epoch), on_step=False, on_epoch=True, sync_dist=True, reduce_fx="max")

    def fused_training_step(self, batch) -> None:
        """Fused steps (model.fused_steps > 1): the loader hands over `steps_per_call` consecutive batches at once and
        this runs one optimizer step on each, as the automatic loop would (loss, zero_grad, backward, step; Lightning
        counts each step in global_step, scales the loss under 16-mixed and runs the step hooks). What it saves is
        Lightning's per-call cost, about 0.5 ms on a CPU and more than an MLP step on a GPU; the weights, the logged
        rows and the checkpoints are those of the unfused run (tests/models/test_fused.py), except that dynamic
        binarisation draws a call's pixels at once."""
        opt = self.optimizers()
        batches = [batch]
        if self.steps_per_call > 1:
            size = self.trainer.datamodule.batch_size
            batches = list(zip(batch[0].split(size), batch[1].split(size)))
        for k, sub in enumerate(batches):
            if 0 < self.trainer.max_steps <= self.global_step:  # the run ends inside this call
                self.trainer.datamodule.not_trained(len(batches) - k)
                break
            loss = self.train_batch(sub)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()

    def plan_fused_steps(self) -> int:
        """This fit's optimizer steps per call: `model.fused_steps`, at most trainer.log_every_n_steps and
        callbacks.last_checkpoint.every_n_train_steps (a call then holds at most one logged row, and step
        checkpoints keep their interval), and 1 where something counts single batches: a fractional
        trainer.limit_train_batches, val_check_interval or overfit_batches (Lightning counts calls), another
        callback's every_n_train_steps in the run's config (ModelCheckpoint saves only at exact multiples), or a
        datamodule that cannot hand over several batches at once."""
        trainer = self.trainer
        callbacks = (self.run_config or {}).get("callbacks") or {}
        per_call = (isinstance(trainer.limit_train_batches, float) and trainer.limit_train_batches != 1.0,
                    trainer.val_check_interval != 1.0 or isinstance(trainer.val_check_interval, int),
                    trainer.overfit_batches,
                    not getattr(trainer.datamodule, "groups_batches", False),
                    any(name != "last_checkpoint" and isinstance(c, dict) and c.get("every_n_train_steps")
                        for name, c in callbacks.items()))
        intervals = (trainer.log_every_n_steps, *(getattr(c, "every", 0) for c in trainer.checkpoint_callbacks))
        return 1 if any(per_call) else min(self.fused_steps, *(n for n in intervals if n))

    def on_fit_start(self) -> None:
        if self.fused_steps > 1:
            self.steps_per_call = self.plan_fused_steps()
            if self.steps_per_call != self.fused_steps:
                log.info("model.fused_steps=%d: %d optimizer steps per call in this run (see plan_fused_steps)",
                         self.fused_steps, self.steps_per_call)

    def validation_step(self, batch, batch_idx):
        self.log_terms("val", self.loss(batch), len(batch[0]))

    def test_step(self, batch, batch_idx):
        self.log_terms("test", self.loss(batch), len(batch[0]))

    def configure_optimizers(self):
        opt = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt), "interval": "epoch"}}

    # -- checkpoints carry the config that built them, and the random state ------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        from lightning_ae import __version__

        checkpoint["lightning_ae"] = {"version": __version__, "config": self.run_config,
                                      "data": getattr(self, "data_identity", None)}  # lightning_ae/data_identity.py
        # so that a resumed run draws the same noise (ε, α, z, corruptions) as an uninterrupted one
        checkpoint["rng_state"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["rng_state"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self._trainer is not None and self.trainer.state.fn == "fit":
            stored = ((checkpoint.get("lightning_ae") or {}).get("config") or {}).get("model", {})
            was = int(stored.get("fused_steps", 1))
            if (was > 1) != (self.fused_steps > 1):  # Lightning counts the steps of the two loops apart
                raise UserError(f"{self.trainer.ckpt_path} was trained with model.fused_steps={was}; resume it with "
                                f"model.fused_steps={was} (fused steps need manual optimization, which trainer."
                                "gradient_clip_val and accumulate_grad_batches turn off), or start a new run")
        self._resume_rng = checkpoint.get("rng_state")  # applied once training restarts, see below
        self._resumed = True

    def on_train_start(self) -> None:
        """After a resume: restore the random state (after the sanity-check validation, which draws noise of
        its own), and give the optimizers the hyperparameters of this run's config."""
        state, self._resume_rng = getattr(self, "_resume_rng", None), None
        if state:
            torch.set_rng_state(state["cpu"])
            if "cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])
        if getattr(self, "_resumed", False) and self.trainer.state.fn == "fit":
            self._resumed = False
            self.apply_configured_hyperparameters()

    def apply_configured_hyperparameters(self) -> None:
        """Lightning restores each optimizer's hyperparameters along with its state, so `resume=auto
        optimizer.lr=X` would train on at the checkpoint's lr while the run's config says X. The config wins:
        every param-group setting (lr, betas, weight_decay, ...) becomes what `configure_optimizers` builds
        now; the moments (Adam's m, v) stay. Under an lr scheduler its progress stays too: the base lr becomes
        the configured one and the current lr keeps its ratio to the base."""
        changed = []
        for restored, fresh in zip(self.trainer.optimizers, _optimizers(self.configure_optimizers())):
            for old, new in zip(restored.param_groups, fresh.param_groups):
                base = new.get("initial_lr", new["lr"])
                lr = old["lr"] if base == old.get("initial_lr") else \
                    old["lr"] * base / old["initial_lr"] if old.get("initial_lr") else base
                settings = {k: v for k, v in new.items() if k not in ("params", "lr", "initial_lr")} | {"lr": lr}
                if "initial_lr" in old:
                    settings["initial_lr"] = base
                changed += [f"{k} {old.get(k)} -> {v}" for k, v in settings.items() if old.get(k) != v]
                old.update(settings)
        for config in self.trainer.lr_scheduler_configs:
            if hasattr(config.scheduler, "base_lrs"):
                config.scheduler.base_lrs = [g["initial_lr"] for g in config.scheduler.optimizer.param_groups]
        if changed:
            log.info("resumed with this config's optimizer settings: %s", ", ".join(sorted(set(changed))))


def _optimizers(configured) -> list[torch.optim.Optimizer]:
    """The optimizers in whatever `configure_optimizers` returned (one, a list, a dict, (optimizers, schedulers))."""
    if isinstance(configured, torch.optim.Optimizer):
        return [configured]
    if isinstance(configured, dict):
        return _optimizers(configured.get("optimizer"))
    if isinstance(configured, (list, tuple)):
        return [o for c in configured for o in _optimizers(c)]
    return []
