"""Adversarially Constrained Autoencoder Interpolation, ACAI (Berthelot, Raffel, Roy & Goodfellow, ICLR 2019).

A critic d looks at decoded interpolants of two codes and regresses their mixing coefficient α; the
autoencoder is trained to make the critic answer 0, i.e. to make interpolants look like real data.

    z1 = E(x),  z2 = z1 reversed along the batch,  α = 0.5 − |u − 0.5|, u ~ U(0, 1)   (α ∈ [0, 0.5])
    x̂ = D(z1),  x̂_α = D(α·z1 + (1 − α)·z2)
    L_ae = ‖x − x̂‖² + λ·‖d(x̂_α)‖²                                     (eq. 2; λ = 0.5)
    L_d  = ‖d(x̂_α) − α‖² + ‖d(γ·x + (1 − γ)·x̂)‖²                      (eq. 1; γ = 0.2)

‖·‖² are means over pixels / over the batch, as in the official code. Images enter the critic in data space
(`decode`), so the squared error is the paper's on [-1, 1] data (lines) and on probabilities for [0, 1] data.

Training (manual optimization, two optimizers, one batch):
  1. autoencoder (E, D) on L_ae — the `optimizer` group (the paper: Adam lr 1e-4, experiment=acai_lines)
  2. critic d on L_d, with x̂ and x̂_α detached — the same optimizer (`critic_optimizer` replaces arguments)
Each block is zero_grad → manual_backward → step under `toggled_optimizer`, so the other side's weights
get no gradient. `trainer.global_step` counts optimizer steps: it advances by 2 per batch, so
`trainer.max_steps=2000` trains 1000 batches (likewise `every_n_train_steps` of checkpoints).

Logged: train/ae (L_ae), train/recon, train/ae_critic (mean d(x̂_α)²), train/critic (L_d).
val/test: loss = the likelihood's reconstruction NLL (as the AE reports it, so checkpoints rank alike), mse.
"""
from __future__ import annotations

import torch

from lightning_ae.nets.gan import Critic

from .adversarial import ManualOptimization
from .base import AutoencoderModule


class ACAI(ManualOptimization, AutoencoderModule):
    loss_terms = ("loss", "mse")

    def __init__(self, net, lam: float = 0.5, gamma: float = 0.2, critic_optimizer: dict | None = None,
                 critic_scheduler=None, grad_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.automatic_optimization = False
        self.lam, self.gamma, self.grad_clip = lam, gamma, grad_clip
        self.critic_optimizer_factory = self.follow_optimizer(critic_optimizer)
        self.critic_scheduler_factory = critic_scheduler if callable(critic_scheduler) else None
        self.encoder = net.encoder(self.shape, self.latent_dim)
        self.decoder = net.decoder(self.latent_dim, self.shape)
        self.critic = Critic(net, self.shape, self.latent_dim)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.likelihood.mean(self.decoder(z))

    # -- the training story ----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        x, _ = batch
        opt_ae, opt_critic = self.optimizers()

        with self.toggled_optimizer(opt_ae):  # 1. autoencoder on L_ae
            z = self.encoder(x)
            x_hat = self.decode(z)
            alpha = 0.5 - (torch.rand(len(x), device=x.device) - 0.5).abs()
            a = alpha.view(-1, *([1] * (z.dim() - 1))).to(z.dtype)
            x_mix = self.decode(a * z + (1 - a) * z.flip(0))
            recon = (x_hat.float() - x.float()).pow(2).mean()
            ae_critic = self.critic(x_mix).pow(2).mean()
            ae_loss = recon + self.lam * ae_critic
            opt_ae.zero_grad()
            self.manual_backward(ae_loss)
            opt_ae.step()

        with self.toggled_optimizer(opt_critic):  # 2. critic on L_d
            blend = self.gamma * x + (1 - self.gamma) * x_hat.detach()
            critic_loss = (self.critic(x_mix.detach()) - alpha).pow(2).mean() + self.critic(blend).pow(2).mean()
            opt_critic.zero_grad()
            self.manual_backward(critic_loss)
            opt_critic.step()

        self.log_train({"ae": ae_loss, "recon": recon, "ae_critic": ae_critic, "critic": critic_loss}, len(x))

    def loss(self, batch):
        x, _ = batch
        out = self.decoder(self.encoder(x))
        mse = (self.likelihood.mean(out).float() - x.float()).pow(2).mean()
        return {"loss": self.likelihood.nll(out, x).mean(), "mse": mse}

    # -- optimizers: one per side; clipping, schedulers and resume come from ManualOptimization ------
    def configure_optimizers(self):
        ae_params = [*self.encoder.parameters(), *self.decoder.parameters()]
        opts = [self.optimizer_factory(ae_params), self.critic_optimizer_factory(self.critic.parameters())]
        return self.with_schedulers(opts, [self.scheduler_factory, self.critic_scheduler_factory])
