"""NVAE: a deep hierarchical VAE (Vahdat & Kautz, "NVAE: A Deep Hierarchical Variational Autoencoder",
NeurIPS 2020). Networks and cells: `lightning_ae.nets.nvae`; likelihoods: `lightning_ae.likelihoods`.

Model (paper eq. 1–2): groups z_1 (top) … z_L over several spatial scales,
    p(z) = Π_l p(z_l | z_<l),   q(z|x) = Π_l q(z_l | x, z_<l),
    q(z_l | ·) = N(μ_p + Δμ, σ_p·Δσ)          (residual normal: q is a shift of the prior, eq. 2)
    KL_l = ½[(Δμ/σ_p)² + Δσ² − 1] − log Δσ     (analytic, per group, summed over its variables)

Training loss per step t of T (terms in nats per image, mean over the batch):
    loss = −log p(x|z) + β(t)·Σ_l γ_l·KL_l + λ·(Σ_convs σ_max(W) + Σ_BN max|γ_bn|)
- KL warm-up (Sec. 3.3): β(t) = clamp((t − c·T) / (w·T), β_min, 1), w = `kl_warmup` (0.3 of training),
  c = `kl_constant`, β_min = `kl_min`.
- KL balancing (Sec. 3.3, App. A): while β < 1, γ_l ∝ (E_batch|KL_l| + 0.01) / α_l, normalised to mean 1 and
  not differentiated; groups that carry little information are penalised less, which counters posterior
  collapse. γ = 1 after. α_l are the official code's per-scale coefficients (its `kl_balancer_coeff`, 'square'):
  for a group at scale s (s = 0 the top), α = 4^s / (groups at scale s), scaled so that the smallest is 1 —
  the group's spatial size over its scale's group count, so a scale's KL budget does not grow with its
  number of groups (the same as a group-size rule only when every scale has as many groups).
- Spectral regularisation (Sec. 3.2, λ = `spectral_coeff`): σ_max of every conv weight by one power
  iteration per step; the (u, v) vectors are buffers, so they are checkpointed and resume exactly.
- Adamax (lr 1e-2, weight decay 3e-4: `optimizer=adamax`, which model=nvae selects) with its own per-step
  schedule, so `scheduler` must stay none: linear warm-up over `lr_warmup`·T steps, then cosine decay to
  `lr_min`. T is the trainer's estimated number of optimizer steps, or `schedule_steps` when set (for
  wall-clock-limited runs).
Validation/test `loss` is the negative ELBO (recon + KL, β = 1), comparable across runs.

Logs: train/{loss, recon, kl, elbo, spectral, kl_coeff, kl_group_<l>} (KL per group spots collapsed groups);
val|test/{loss, recon, kl, elbo}.

Images are zero-padded (with the low end of the value range) to a multiple of 2**(pre_blocks + scales − 1)
(28×28 → 32×32 as in the paper) and every output is cropped back; the likelihood covers the real pixels only.
`encode(x)` is the top group's posterior mean, flattened ([B, latent_per_group·h_top·w_top]);
`decode(z)` runs the generative pass with the top group fixed to z and every lower group at its prior mean.
"""
from __future__ import annotations

import math

import torch

from lightning_ae.errors import UserError
from lightning_ae.likelihoods import observation_model
from lightning_ae.nets.layers import Crop, Pad
from lightning_ae.nets.nvae import HierarchicalVAE, Normal, batchnorm_scales, spectral_norms

from .base import AutoencoderModule


def kl_warmup_coeff(step: int, total: int, warmup: float = 0.3, constant: float = 1e-4,
                    minimum: float = 1e-4) -> float:
    """β(t) = clamp((t − constant·T) / (warmup·T), minimum, 1)."""
    if warmup <= 0:
        return 1.0
    return float(min(max((step - constant * total) / (warmup * total), minimum), 1.0))


def kl_balance_alpha(groups: list[int]) -> torch.Tensor:
    """α per group, top first, for `groups` per scale (top first): 4^s / groups[s], divided by the minimum."""
    alpha = torch.cat([torch.full((g,), 4.0**s / g) for s, g in enumerate(groups)])
    return alpha / alpha.min()


def balance_kl(kl_all: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """KL balancing: kl_all [B, G] per image and group, alpha [G] relative group sizes.
    Returns (Σ_l γ_l·KL_l per image [B], γ [G]) with γ_l ∝ (mean KL_l + 0.01)/α_l, mean(γ) = 1, no gradient."""
    gamma = (kl_all.detach().abs().mean(0) + 0.01) / alpha
    gamma = gamma / gamma.mean()
    return (kl_all * gamma).sum(1), gamma


class NVAE(AutoencoderModule):
    can_fuse = False  # its warm-up and cosine schedules count Lightning's batches (estimated_stepping_batches)
    loss_terms = ("loss", "recon", "kl", "elbo")
    can_sample = True

    def __init__(self, shape, channels: int = 32, pre_blocks: int = 2, pre_cells: int = 3, scales: int = 2,
                 groups_per_scale: int | list[int] = 10, adaptive_groups: bool = False, latent_per_group: int = 20,
                 enc_cells: int = 2, dec_cells: int = 2, post_blocks: int = 2, post_cells: int = 3,
                 expand: int = 6, se: bool = True, observation: str = "auto", mixtures: int = 10, bits: int = 8,
                 value_range=(0.0, 1.0), kl_warmup: float = 0.3, kl_constant: float = 1e-4, kl_min: float = 1e-4,
                 kl_balance: bool = True, spectral_coeff: float = 1e-2, power_iterations: int = 1,
                 lr_warmup: float = 0.0125, lr_min: float = 1e-4, schedule_steps: int | None = None, **kwargs):
        if callable(kwargs.get("scheduler")):
            name = getattr(kwargs["scheduler"], "func", kwargs["scheduler"]).__name__
            raise UserError(f"model=nvae schedules its learning rate itself (model.lr_warmup, model.lr_min), so the "
                            f"scheduler group's {name} would be ignored: use scheduler=none")
        c, h, w = (int(s) for s in shape)
        if min(scales, pre_blocks + 1, pre_cells, enc_cells, post_cells, latent_per_group) < 1 or post_blocks < 0:
            raise UserError("model: scales, pre_cells, enc_cells, post_cells and latent_per_group must be >= 1")
        if post_blocks != pre_blocks:
            raise UserError(f"model.post_blocks ({post_blocks}) must equal model.pre_blocks ({pre_blocks}) so "
                            "the decoder returns to the input size")
        if isinstance(groups_per_scale, int):  # top scale first; adaptive (official --ada_groups): the finest
            # scale gets groups_per_scale, and the count halves at each coarser scale up to the top
            groups = [max(groups_per_scale // (2 ** (scales - 1 - s) if adaptive_groups else 1), 1)
                      for s in range(scales)]
        else:
            groups = [int(g) for g in groups_per_scale]
        if len(groups) != scales or min(groups) < 1:
            raise UserError(f"model.groups_per_scale must be an int or {scales} positive ints, got {groups_per_scale}")
        self.factor = 2 ** (pre_blocks + scales - 1)
        padded = (math.ceil(h / self.factor) * self.factor, math.ceil(w / self.factor) * self.factor)
        top = (padded[0] // self.factor, padded[1] // self.factor)
        super().__init__(shape=shape, latent_dim=latent_per_group * top[0] * top[1], **kwargs)
        self.value_range = tuple(float(v) for v in value_range)
        self.pad_input = Pad((h, w), padded, mode="constant", value=self.value_range[0])
        self.crop_output = Crop(padded, (h, w))
        self.obs = observation_model(observation, c, self.likelihood.kind, mixtures, bits, self.value_range)
        self.net = HierarchicalVAE(c, self.obs.out_channels(c), padded, channels, pre_blocks, pre_cells, groups,
                                   latent_per_group, enc_cells, dec_cells, post_blocks, post_cells, expand, se)
        self.register_buffer("kl_alpha", kl_balance_alpha(groups), persistent=False)
        self.kl_warmup, self.kl_constant, self.kl_min, self.kl_balance = kl_warmup, kl_constant, kl_min, kl_balance
        self.spectral_coeff, self.power_iterations = spectral_coeff, int(power_iterations)
        self.lr_warmup, self.lr_min, self.schedule_steps = lr_warmup, lr_min, schedule_steps
        with torch.no_grad():  # start the power iteration near the top singular vectors
            spectral_norms(self.net, iterations=10)

    # -- the interface ---------------------------------------------------------------------------
    def encode(self, x):
        top = self.net.dec[0]["posterior"](self.net.bottom_up(self.pad_input(x))[0])
        return Normal.from_params(top).mu.flatten(1)

    def decode(self, z):
        z_top = z.reshape(len(z), self.net.latent, *self.net.top_size)
        out, _ = self.net.top_down(n=len(z), mean=True, z_top=z_top)
        return self.obs.mean(self.crop_output(out))

    def reconstruct(self, x):
        out, _ = self.net.top_down(self.net.bottom_up(self.pad_input(x)), mean=True)
        return self.obs.mean(self.crop_output(out))

    def sample(self, n: int, temperature: float = 1.0):
        out, _ = self.net.top_down(n=n, temperature=temperature)
        return self.obs.mean(self.crop_output(out))

    def log_weights(self, x, k: int = 1):
        """log p(x|z) + Σ_l [log p(z_l|z_<l) − log q(z_l|x,z_<l)] for k joint draws z ~ q(z|x): [k, B]."""
        feats = self.net.bottom_up(self.pad_input(x))
        chunk, rows = max(1, 2048 // len(x)), []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            out, groups = self.net.top_down([f.repeat(kk, 1, 1, 1) for f in feats])
            lw = -self.obs.nll(self.crop_output(out), x.repeat(kk, 1, 1, 1))
            for z, q, p in groups:
                lw = lw + p.log_prob(z) - q.log_prob(z)
            rows.append(lw.view(kk, len(x)))
        return torch.cat(rows)

    # -- training story --------------------------------------------------------------------------
    def total_steps(self) -> int:
        if self.schedule_steps:
            return int(self.schedule_steps)
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else float("inf")
        if not math.isfinite(total):
            raise UserError("NVAE's warm-up and cosine schedules need a known length: set trainer.max_epochs "
                            "or trainer.max_steps, or model.schedule_steps")
        return max(int(total), 1)

    def kl_coeff(self) -> float:
        return kl_warmup_coeff(self.global_step, self.total_steps(), self.kl_warmup, self.kl_constant, self.kl_min)

    def loss(self, batch):
        x, _ = batch
        out, groups = self.net.top_down(self.net.bottom_up(self.pad_input(x)))
        recon = self.obs.nll(self.crop_output(out), x).mean()
        kl_all = torch.stack([q.kl(p) for _, q, p in groups], 1)  # [B, groups], top first
        kl = kl_all.sum(1).mean()
        terms = {"loss": recon + kl, "recon": recon, "kl": kl, "elbo": -(recon + kl)}
        if not self.training:
            return terms
        beta = self.kl_coeff()
        balanced = balance_kl(kl_all, self.kl_alpha)[0] if self.kl_balance and beta < 1.0 else kl_all.sum(1)
        spectral = spectral_norms(self.net, self.power_iterations) + batchnorm_scales(self.net).to(recon.device)
        terms["loss"] = recon + beta * balanced.mean() + self.spectral_coeff * spectral
        terms.update(spectral=spectral.detach(), kl_coeff=torch.tensor(beta, device=recon.device))
        terms.update({f"kl_group_{i}": v.detach() for i, v in enumerate(kl_all.mean(0))})
        return terms

    def lr_factor(self, step: int, lr: float) -> float:
        """Linear warm-up over lr_warmup·T steps, then cosine from 1 to lr_min/lr at step T."""
        total = self.total_steps()
        warm = max(1, round(self.lr_warmup * total))
        if step < warm:
            return (step + 1) / warm
        progress = min((step - warm) / max(1, total - warm), 1.0)
        floor = self.lr_min / lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def configure_optimizers(self):
        opt = self.optimizer_factory(self.parameters())
        lr = opt.param_groups[0]["lr"]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: self.lr_factor(step, lr))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
