"""Adversarial Latent Autoencoder, ALAE (Pidhorskyi, Adjeroh & Doretto, CVPR 2020).

Four networks: mapping F (z → w), generator G (w → x), encoder E (x → w) and a discriminator D that scores
*latents* (w → score); the GAN game is played on E's output, and E inverts G in w space:

    fake = G(F(z)),  z ~ N(0, I)
    L_D   = softplus(D(E(fake))) + softplus(−D(E(x))) + (γ/2)·‖∇ₓ D(E(x))‖²     (eq. 5 + R1 penalty, γ = 10)
    L_G   = softplus(−D(E(G(F(z)))))                                           (non-saturating, eq. 5)
    L_lat = ‖E(G(w)) − w‖²,  w = sg[F(z)]   (mean over latent units, as the official code; eq. 6)

Training (manual optimization, two optimizers as in the official code: one over (E, D), one over (F, G)),
per batch three steps:
  1. E and D on L_D            — step optimizer (E, D)
  2. F and G on L_G            — step optimizer (F, G)
  3. E, then G, on L_lat       — two blocks: optimizer (E, D) then optimizer (F, G); D and F get no
                                 gradient (w is detached, D unused), so Adam leaves them untouched
Defaults: Adam betas (0.0, 0.99) for both (`optimizer=adam_gan`, which model=alae selects), lr 2e-4: the paper's
0.002 is for equalised-lr layers, an effective step of about 2e-4 on plain ones (conf/optimizer/adam_gan.yaml);
the paper's MNIST batch is 128 (data.batch_size).
`trainer.global_step` counts optimizer steps: 4 per batch (1 + 1 + 2), so `trainer.max_steps=4000` trains
1000 batches.

`sample(n)` = G(F(z)); `encode` = E; `decode` = G; `reconstruct(x)` = G(E(x)).
Logged: train/discriminator, train/r1, train/generator, train/latent.
val/test: loss = pixel reconstruction NLL of G(E(x)) under the data likelihood, mse, latent, discriminator
and generator (no R1 outside training).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lightning_ae.nets.mlp import mlp

from .adversarial import ManualOptimization
from .base import AutoencoderModule


class ALAE(ManualOptimization, AutoencoderModule):
    loss_terms = ("loss", "mse", "latent", "discriminator", "generator")
    can_sample = True
    not_compiled = ("encoder", "discriminator")  # R1 differentiates D(E(x)) twice (create_graph=True)

    def __init__(self, net, mapping_layers: int = 3, disc_hidden: list[int] = (256, 256), r1_gamma: float = 10.0,
                 activation: str = "leaky_relu", generator_optimizer: dict | None = None,
                 generator_scheduler=None, grad_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.automatic_optimization = False
        self.r1_gamma, self.grad_clip = r1_gamma, grad_clip
        self.generator_optimizer_factory = self.follow_optimizer(generator_optimizer)
        self.generator_scheduler_factory = generator_scheduler if callable(generator_scheduler) else None
        d = self.latent_dim
        self.mapping = mlp([d] * (int(mapping_layers) + 1), activation)
        self.generator = net.decoder(d, self.shape)
        self.encoder = net.encoder(self.shape, d)
        self.discriminator = mlp([d, *disc_hidden, 1], activation)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, w):
        return self.likelihood.mean(self.generator(w))

    def sample(self, n):
        return self.decode(self.mapping(torch.randn(n, self.latent_dim, device=self.device)))

    def score(self, x):
        """D(E(x)) as a float [B]."""
        return self.discriminator(self.encoder(x)).float().squeeze(1)

    # -- the training story ----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        x, _ = batch
        opt_ed, opt_fg = self.optimizers()
        z = torch.randn(len(x), self.latent_dim, device=x.device)

        with self.toggled_optimizer(opt_ed):  # 1. E, D on the discriminator loss + R1
            with torch.no_grad():
                fake = self.decode(self.mapping(z))
            disc, r1 = self.discriminator_loss(x, fake, r1=True)
            d_loss = disc + 0.5 * self.r1_gamma * r1
            opt_ed.zero_grad()
            self.manual_backward(d_loss)
            opt_ed.step()

        with self.toggled_optimizer(opt_fg):  # 2. F, G on the non-saturating generator loss
            gen = F.softplus(-self.score(self.decode(self.mapping(z)))).mean()
            opt_fg.zero_grad()
            self.manual_backward(gen)
            opt_fg.step()

        # 3. E, then G, on the latent reconstruction; F and D get no gradient (w is detached, D unused).
        # One zero_grad → backward → step block per optimizer, so a GradScaler (16-mixed) unscales each
        # optimizer's gradients with the scale they were computed with.
        with self.toggled_optimizer(opt_ed):
            latent = self.latent_loss(z)
            opt_ed.zero_grad()
            self.manual_backward(latent)
            opt_ed.step()
        with self.toggled_optimizer(opt_fg):
            latent_g = self.latent_loss(z)
            opt_fg.zero_grad()
            self.manual_backward(latent_g)
            opt_fg.step()

        self.log_train({"discriminator": disc, "r1": r1, "generator": gen, "latent": latent}, len(x))

    def discriminator_loss(self, x, fake, r1: bool = False):
        """(softplus(D(E(fake))) + softplus(−D(E(x))), R1 = ‖∇ₓ D(E(x))‖² per image), batch means."""
        x = x.detach().requires_grad_(r1)
        real_score = self.score(x)
        loss = F.softplus(self.score(fake)).mean() + F.softplus(-real_score).mean()
        if not r1:
            return loss, torch.zeros((), device=x.device)
        (grad,) = torch.autograd.grad(real_score.sum(), x, create_graph=True)
        return loss, grad.float().pow(2).flatten(1).sum(1).mean()

    def latent_loss(self, z):
        with torch.no_grad():
            w = self.mapping(z)
        return (self.encoder(self.decode(w)).float() - w.float()).pow(2).mean()

    def loss(self, batch):
        x, _ = batch
        out = self.generator(self.encoder(x))
        z = torch.randn(len(x), self.latent_dim, device=x.device)
        fake = self.decode(self.mapping(z))
        return {"loss": self.likelihood.nll(out, x).mean(),
                "mse": (self.likelihood.mean(out).float() - x.float()).pow(2).mean(),
                "latent": self.latent_loss(z), "discriminator": self.discriminator_loss(x, fake)[0],
                "generator": F.softplus(-self.score(fake)).mean()}

    def configure_optimizers(self):
        ed = [*self.encoder.parameters(), *self.discriminator.parameters()]
        fg = [*self.mapping.parameters(), *self.generator.parameters()]
        opts = [self.optimizer_factory(ed), self.generator_optimizer_factory(fg)]
        return self.with_schedulers(opts, [self.scheduler_factory, self.generator_scheduler_factory])
