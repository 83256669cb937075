"""VAE-GAN: autoencoding beyond pixels with a learned similarity metric (Larsen et al., ICML 2016).

A VAE whose reconstruction error is measured on a hidden layer of a GAN discriminator (Dis_l), and whose
decoder doubles as the GAN generator. With z ~ q(z|x) = N(μ, σ²), x̃ = Dec(z), z_p ~ N(0, I), x_p = Dec(z_p):

    L_prior = KL(q(z|x) ‖ N(0, I))                                                  (eq. 6)
    L_llike = ½‖Dis_l(x) − Dis_l(x̃)‖²   (Gaussian log-likelihood on the features, up to a constant; eq. 8)
    L_GAN   = log D(x) + log(1 − D(x_p)) + log(1 − D(x̃))                           (eq. 9, prior samples too)

Training (manual optimization, three optimizers, Algorithm 1), one batch:
  1. encoder       on prior_weight·L_prior + L_llike (prior_weight = 1: the paper; the official code's kld_weight)
  2. decoder       on γ·L_llike + (the GAN's generator loss: D should call x̃ and x_p real)
  3. discriminator on −L_GAN as binary cross-entropy: x real, x̃ and x_p fake (real and generated images
     weighted ½ each, the official code's real_vs_gen_weight = 0.5)
Equilibrium (the official code's margin training, not in the paper's text): from this batch's discriminator
costs before any update, real = BCE(D(x), 1) and fake = BCE(D(x̃ and x_p), 0), the discriminator skips its step
while either is below `equilibrium − margin` (it is winning) and the decoder skips its step while either is above
`equilibrium + margin` (the discriminator is losing, so its features and verdicts carry no signal); if both would
skip, both step. equilibrium 0.68 ≈ ln 2, the cost of a discriminator that cannot tell; margin 0.4. Without it
the MLP discriminator on MNIST wins outright within an epoch (cost 1e-5) and the decoder never recovers.
The discriminator is built from `disc_net` (a net spec; null: the encoder's `net`), so a conv discriminator
can judge an MLP pair's images, as the paper's conv Dis_l does (§4 uses convs on all three networks).
The paper writes the decoder's GAN part as −L_GAN; we use the usual non-saturating form
(−log D(x̃) − log D(x_p)), which has the same fixed point and does not stall early. γ = `gamma` weighs
reconstruction against fooling the discriminator. All three blocks use the batch's one forward pass
(each network is updated only by its own block, so later blocks see the earlier weights, as in Algorithm 1);
each is zero_grad → manual_backward → step under `toggled_optimizer`.

`trainer.global_step` counts optimizer steps: up to 3 per batch (fewer while the equilibrium rule pauses a side),
so set the budget with `trainer.max_epochs`.

Logged: train/prior, train/llike, train/encoder, train/decoder_gan, train/decoder, train/discriminator, and
train/decoder_steps, train/discriminator_steps (1 when that side stepped; their epoch means are the shares).
val/test: loss = pixel reconstruction NLL of Dec(μ) under the data likelihood (stable across epochs, unlike
the feature-space terms, which move with the discriminator), kl, llike, discriminator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lightning_ae.nets.gan import Discriminator

from .adversarial import ManualOptimization
from .base import AutoencoderModule
from .vae import GaussianLatent


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class VAEGAN(ManualOptimization, GaussianLatent, AutoencoderModule):
    loss_terms = ("loss", "kl", "llike", "discriminator")
    can_sample = True

    def __init__(self, net, gamma: float = 1.0, prior_weight: float = 1.0, disc_net=None, disc_features: int = 256,
                 disc_feature_layer: int | None = None, equilibrium: float = 0.68,
                 margin: float | None = 0.4, decoder_optimizer: dict | None = None,
                 discriminator_optimizer: dict | None = None, decoder_scheduler=None,
                 discriminator_scheduler=None, grad_clip: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.automatic_optimization = False
        self.gamma, self.prior_weight, self.grad_clip = gamma, prior_weight, grad_clip
        self.equilibrium, self.margin = equilibrium, margin
        self.factories = [self.optimizer_factory, self.follow_optimizer(decoder_optimizer),
                          self.follow_optimizer(discriminator_optimizer)]
        self.scheduler_factories = [self.scheduler_factory, *(s if callable(s) else None
                                                     for s in (decoder_scheduler, discriminator_scheduler))]
        self.encoder = net.encoder(self.shape, 2 * self.latent_dim)
        self.decoder = net.decoder(self.latent_dim, self.shape)
        self.discriminator = Discriminator(disc_net or net, self.shape, disc_features, feature_layer=disc_feature_layer)

    @staticmethod
    def llike(f_real, f_fake):
        return 0.5 * (f_real.float() - f_fake.float()).pow(2).sum(1).mean()

    # -- the training story ----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        x, _ = batch
        opt_enc, opt_dec, opt_dis = self.optimizers()
        z_p = torch.randn(len(x), self.latent_dim, device=x.device)

        with self.toggled_optimizer(opt_enc):  # 1. encoder on L_prior + L_llike
            mu, logvar = self.posterior(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            logit_real, f_real = (t.detach() for t in self.discriminator(x))
            prior = self.kl(mu, logvar).mean()
            llike = self.llike(f_real, self.discriminator(self.decode(z))[1])
            opt_enc.zero_grad()
            self.manual_backward(self.prior_weight * prior + llike)
            opt_enc.step()

        with self.toggled_optimizer(opt_dec):  # 2. decoder on γ·L_llike + generator loss
            x_tilde, x_p = self.decode(z.detach()), self.decode(z_p)
            (logit_tilde, f_tilde), logit_p = self.discriminator(x_tilde), self.discriminator(x_p)[0]
            decoder_gan = _bce(logit_tilde, 1.0) + _bce(logit_p, 1.0)
            decoder_loss = self.gamma * self.llike(f_real, f_tilde) + decoder_gan
            real_cost = _bce(logit_real, 1.0)  # the discriminator's costs at its current weights
            fake_cost = 0.5 * (_bce(logit_tilde.detach(), 0.0) + _bce(logit_p.detach(), 0.0))
            costs = torch.stack([real_cost, fake_cost])
            if self.trainer.world_size > 1:  # one decision on every rank, or DDP's ranks would step different nets
                costs = self.trainer.strategy.reduce(costs, reduce_op="mean")
            step_decoder, step_discriminator = self.balance(*costs.tolist())
            if step_decoder:
                opt_dec.zero_grad()
                self.manual_backward(decoder_loss)
                opt_dec.step()

        if step_discriminator:
            with self.toggled_optimizer(opt_dis):  # 3. discriminator on L_GAN: x real; x̃, x_p fake
                disc_loss = self.discriminator_loss(x, x_tilde.detach(), x_p.detach())
                opt_dis.zero_grad()
                self.manual_backward(disc_loss)
                opt_dis.step()
        else:
            disc_loss = real_cost + fake_cost  # = discriminator_loss(x, x̃, x_p) at these weights

        self.log_train({"prior": prior, "llike": llike, "encoder": self.prior_weight * prior + llike, "decoder_gan": decoder_gan,
                        "decoder": decoder_loss, "discriminator": disc_loss,
                        "decoder_steps": x.new_tensor(float(step_decoder)),
                        "discriminator_steps": x.new_tensor(float(step_discriminator))}, len(x))

    def balance(self, real: float, fake: float) -> tuple[bool, bool]:
        """(step the decoder, step the discriminator) under the equilibrium rule above; both without a margin."""
        if self.margin is None:
            return True, True
        step_discriminator = min(real, fake) >= self.equilibrium - self.margin
        step_decoder = max(real, fake) <= self.equilibrium + self.margin
        return (step_decoder, step_discriminator) if step_decoder or step_discriminator else (True, True)

    def discriminator_loss(self, x, x_tilde, x_p):
        return (_bce(self.discriminator(x)[0], 1.0)
                + 0.5 * (_bce(self.discriminator(x_tilde)[0], 0.0) + _bce(self.discriminator(x_p)[0], 0.0)))

    def loss(self, batch):
        x, _ = batch
        mu, logvar = self.posterior(x)
        out = self.decoder(mu)
        x_tilde, x_p = self.likelihood.mean(out), self.sample(len(x))
        return {"loss": self.likelihood.nll(out, x).mean(), "kl": self.kl(mu, logvar).mean(),
                "llike": self.llike(self.discriminator(x)[1], self.discriminator(x_tilde)[1]),
                "discriminator": self.discriminator_loss(x, x_tilde, x_p)}

    def configure_optimizers(self):
        nets = (self.encoder, self.decoder, self.discriminator)
        opts = [make(net.parameters()) for make, net in zip(self.factories, nets)]
        return self.with_schedulers(opts, self.scheduler_factories)
