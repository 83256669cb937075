"""What the adversarial variants (ACAI, VAE-GAN, ALAE) share: manual optimization plumbing."""
from __future__ import annotations

import functools

import torch


class ManualOptimization:
    """Plumbing the three adversarial variants (ACAI, VAE-GAN, ALAE) share; mix in before AutoencoderModule.

    - `on_before_optimizer_step` clips each optimizer's gradients to `self.grad_clip` (norm); Lightning
      calls it inside every `opt.step()`, after the GradScaler has unscaled them under 16-mixed.
    - each extra optimizer (critic, decoder, discriminator, generator) is the main `optimizer` with the
      arguments of its model key replaced (`follow_optimizer`), so `optimizer=` and `optimizer.*` reach it.
    - schedulers (one per optimizer that has one) are stepped by hand at every epoch end.
    - optimizer and scheduler states are saved and restored by Lightning; the random state by the base
      class, so a resumed run draws the same noise (α, ε, z) as an uninterrupted one.
    """

    #: each optimizer's step leaves the other networks without gradients: DDP must search for unused ones
    find_unused_parameters = True
    grad_clip: float | None = None
    can_fuse = False

    def follow_optimizer(self, replaced: dict | None):
        """The main optimizer factory with the arguments in `replaced` changed (the config keeps
        `lr: ${optimizer.lr}` there, so model.critic_optimizer.lr=1e-5 sets one side and optimizer.lr both)."""
        return functools.partial(self.optimizer_factory, **dict(replaced or {}))

    @staticmethod
    def with_schedulers(opts, factories):
        return opts, [f(o) for f, o in zip(factories, opts) if f is not None]

    def on_train_epoch_end(self):
        super().on_train_epoch_end()
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

    def on_before_optimizer_step(self, optimizer):
        if self.grad_clip:
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
