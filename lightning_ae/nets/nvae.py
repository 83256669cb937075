"""NVAE's networks (Vahdat & Kautz, NeurIPS 2020): cells, the bidirectional hierarchy, latent normals.

Cells (paper Fig. 3):
- `EncoderCell`: x + 0.1·SE(conv3×3(Swish(BN(conv3×3(Swish(BN(x))))))) — the residual cell of the
  bottom-up encoder; `stride=2` halves the size and doubles the channels (skip: strided 1×1 conv).
- `DecoderCell`: x + 0.1·SE(BN(conv1×1(Swish(BN(dwconv5×5(Swish(BN(conv1×1_expand(BN(x))))))))) — the
  inverted-residual depthwise cell of the top-down decoder; `upsample=True` doubles the size and halves
  the channels (skip: nearest upsampling + 1×1 conv).
- Every convolution is an `SRConv2d`: it carries the power-iteration vectors (u, v) of its weight matrix
  as buffers, so the spectral-regularisation state is checkpointed with the weights (see `spectral_norms`).

`HierarchicalVAE` is the bidirectional structure (paper Fig. 2). Bottom-up: stem conv → preprocessing
blocks (each ends by halving the size) → per latent scale, finest first, `enc_cells` cells per group whose
output feeds that group's posterior, halving between scales. Top-down, shared by inference and generation:
a learned constant h₀ → per group (top first) decoder cells, prior p(z_l | z_<l) from the state,
posterior q(z_l | x, z_<l) as a *residual* of the prior (eq. 2: μ_q = μ_p + Δμ, σ_q = σ_p·Δσ, combined on
the unclamped log-scale), a 1×1 conv that merges z_l into the state, doubling between scales →
postprocessing blocks (each doubles the size) → ELU + conv3×3 to the likelihood's parameters.
Group 0 is the top group; its prior is N(0, I).
"""
from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn


class SRConv2d(nn.Conv2d):
    """Conv2d whose largest singular value (weight as an out × in·k·k matrix) is tracked by power
    iteration; u and v are buffers (state_dict, checkpoints, DDP broadcast)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        out_dim, in_dim = self.weight.shape[0], self.weight[0].numel()
        self.register_buffer("sr_u", F.normalize(torch.randn(out_dim), dim=0))
        self.register_buffer("sr_v", F.normalize(torch.randn(in_dim), dim=0))


def spectral_norms(module: nn.Module, iterations: int = 1, update: bool = True) -> torch.Tensor:
    """Σ over every SRConv2d of σ_max(W) ≈ uᵀWv (differentiable in W), after `iterations` power-iteration
    steps on (u, v) when `update`. Weights of one shape are batched; σ itself is an element-wise product
    and sum, so it stays float32 under mixed precision."""
    by_shape: dict[tuple, list[SRConv2d]] = defaultdict(list)
    for m in module.modules():
        if isinstance(m, SRConv2d):
            by_shape[tuple(m.weight.shape)].append(m)
    total = torch.zeros((), device=next(module.parameters()).device)
    for convs in by_shape.values():
        w = torch.stack([c.weight.flatten(1) for c in convs]).float()  # [n, out, in]
        u = torch.stack([c.sr_u for c in convs])
        v = torch.stack([c.sr_v for c in convs])
        if update:
            with torch.no_grad():
                wd = w.detach()
                for _ in range(iterations):
                    v = F.normalize(torch.bmm(u.unsqueeze(1), wd).squeeze(1).float(), dim=1)
                    u = F.normalize(torch.bmm(wd, v.unsqueeze(2)).squeeze(2).float(), dim=1)
                for c, ui, vi in zip(convs, u, v):
                    c.sr_u.copy_(ui)
                    c.sr_v.copy_(vi)
        total = total + (u.unsqueeze(2) * w * v.unsqueeze(1)).sum((1, 2)).sum()
    return total


def batchnorm_scales(module: nn.Module) -> torch.Tensor:
    """Σ over batch-norm layers of max|γ|: the spectral norm of a BN layer's affine scale (NVAE
    regularises it together with the conv weights)."""
    terms = [m.weight.float().abs().max() for m in module.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=0.05)  # NVAE's slower running statistics


class SqueezeExcite(nn.Module):
    """Channel gating: x · sigmoid(MLP(mean over H, W))."""

    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        hidden = max(c // reduction, 4)
        self.gate = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, c), nn.Sigmoid())

    def forward(self, x):
        return x * self.gate(x.mean((2, 3))).unsqueeze(-1).unsqueeze(-1)


class EncoderCell(nn.Module):
    def __init__(self, c: int, stride: int = 1, se: bool = True):
        super().__init__()
        out = c * stride
        self.skip = SRConv2d(c, out, 1, stride=2) if stride == 2 else nn.Identity()
        self.body = nn.Sequential(
            _bn(c), nn.SiLU(), SRConv2d(c, out, 3, stride=stride, padding=1),
            _bn(out), nn.SiLU(), SRConv2d(out, out, 3, padding=1),
            SqueezeExcite(out) if se else nn.Identity(),
        )

    def forward(self, x):
        return self.skip(x) + 0.1 * self.body(x)


class DecoderCell(nn.Module):
    def __init__(self, c: int, upsample: bool = False, expand: int = 6, se: bool = True):
        super().__init__()
        out = c // 2 if upsample else c
        hidden = c * expand
        up = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        self.skip = nn.Sequential(*up, SRConv2d(c, out, 1)) if upsample else nn.Identity()
        self.body = nn.Sequential(
            *up, _bn(c), SRConv2d(c, hidden, 1), _bn(hidden), nn.SiLU(),
            SRConv2d(hidden, hidden, 5, padding=2, groups=hidden), _bn(hidden), nn.SiLU(),
            SRConv2d(hidden, out, 1), _bn(out),
            SqueezeExcite(out) if se else nn.Identity(),
        )

    def forward(self, x):
        return self.skip(x) + 0.1 * self.body(x)


def soft_clamp(x: torch.Tensor, bound: float = 5.0) -> torch.Tensor:
    return bound * torch.tanh(x / bound)


class Normal:
    """Diagonal normal over a feature map; built from unclamped (μ, log σ) as NVAE does (soft clamp at ±5,
    σ floor 1e-2). Everything in float32."""

    def __init__(self, mu: torch.Tensor, log_sigma: torch.Tensor):
        self.raw = (mu.float(), log_sigma.float())
        self.mu = soft_clamp(self.raw[0])
        self.sigma = soft_clamp(self.raw[1]).exp() + 1e-2

    @classmethod
    def from_params(cls, params: torch.Tensor) -> "Normal":
        return cls(*params.chunk(2, dim=1))

    @classmethod
    def standard(cls, shape, device) -> "Normal":
        n = cls.__new__(cls)
        n.mu, n.sigma = torch.zeros(shape, device=device), torch.ones(shape, device=device)
        n.raw = None
        return n

    def residual(self, delta: torch.Tensor) -> "Normal":
        """q = N(μ_p + Δμ, σ_p·Δσ) on the unclamped parameters (the paper's residual normal)."""
        dmu, dlog = delta.float().chunk(2, dim=1)
        return Normal(self.raw[0] + dmu, self.raw[1] + dlog)

    def sample(self, temperature: float = 1.0) -> torch.Tensor:
        return self.mu + temperature * self.sigma * torch.randn_like(self.mu)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Per-image log density, summed over the group's variables: [B]."""
        e = (z - self.mu) / self.sigma
        return (-0.5 * e.pow(2) - self.sigma.log() - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def kl(self, p: "Normal") -> torch.Tensor:
        """Analytic KL(self ‖ p) per image: [B]."""
        a = (self.mu - p.mu) / p.sigma
        b = self.sigma / p.sigma
        return (0.5 * (a.pow(2) + b.pow(2)) - 0.5 - b.log()).flatten(1).sum(1)


class HierarchicalVAE(nn.Module):
    """The bidirectional encoder / generative model. `size` is the padded (H, W), divisible by
    2 ** (pre_blocks + len(groups) - 1); `groups` lists the latent groups per scale, top (coarsest) first."""

    def __init__(self, in_channels: int, out_channels: int, size: tuple[int, int], channels: int = 32,
                 pre_blocks: int = 2, pre_cells: int = 3, groups: list[int] = (10, 10), latent_per_group: int = 20,
                 enc_cells: int = 2, dec_cells: int = 2, post_blocks: int = 2, post_cells: int = 3,
                 expand: int = 6, se: bool = True):
        super().__init__()
        self.groups, self.latent = list(groups), int(latent_per_group)
        scales = len(self.groups)
        # bottom-up: stem and preprocessing (each block ends with a strided cell)
        self.stem = SRConv2d(in_channels, channels, 3, padding=1)
        c, pre = channels, []
        for _ in range(pre_blocks):
            pre += [EncoderCell(c, se=se) for _ in range(pre_cells - 1)] + [EncoderCell(c, stride=2, se=se)]
            c *= 2
        self.pre = nn.Sequential(*pre)
        # encoder tower, finest scale first; enc_tower[s][g] feeds group g (bottom-up order) of scale s
        self.enc_tower, self.enc_down = nn.ModuleList(), nn.ModuleList()
        chans = []  # channels per scale, finest first
        for s in range(scales):
            chans.append(c)
            self.enc_tower.append(nn.ModuleList(
                nn.Sequential(*[EncoderCell(c, se=se) for _ in range(enc_cells)])
                for _ in range(self.groups[scales - 1 - s])))
            if s < scales - 1:
                self.enc_down.append(EncoderCell(c, stride=2, se=se))
                c *= 2
        self.enc0 = nn.Sequential(nn.ELU(), SRConv2d(c, c, 1))
        # top-down: one entry per group, top first
        down = 2 ** (pre_blocks + scales - 1)
        self.top_size = (size[0] // down, size[1] // down)
        self.h0 = nn.Parameter(torch.rand(1, c, *self.top_size))
        self.dec = nn.ModuleList()
        L = self.latent
        for s, n_groups in enumerate(self.groups):
            c = chans[scales - 1 - s]
            for g in range(n_groups):
                first = s == 0 and g == 0
                cells = [] if first else [DecoderCell(c, expand=expand, se=se) for _ in range(dec_cells)]
                up = DecoderCell(2 * c, upsample=True, expand=expand, se=se) if s > 0 and g == 0 else nn.Identity()
                self.dec.append(nn.ModuleDict({
                    "up": up,
                    "cells": nn.Sequential(*cells),
                    "prior": nn.Identity() if first else nn.Sequential(nn.ELU(), SRConv2d(c, 2 * L, 1)),
                    "enc_merge": nn.Identity() if first else SRConv2d(c, c, 1),
                    "posterior": SRConv2d(c, 2 * L, 3, padding=1),
                    "merge": SRConv2d(c + L, c, 1),
                }))
        post = []
        for _ in range(post_blocks):
            post += [DecoderCell(c, upsample=True, expand=expand, se=se)]
            c //= 2
            post += [DecoderCell(c, expand=expand, se=se) for _ in range(post_cells - 1)]
        self.post = nn.Sequential(*post)
        self.head = nn.Sequential(nn.ELU(), SRConv2d(c, out_channels, 3, padding=1))

    @property
    def num_groups(self) -> int:
        return len(self.dec)

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features per group, top group first."""
        h = self.pre(self.stem(x))
        feats = []
        for s, tower in enumerate(self.enc_tower):
            for cells in tower:
                h = cells(h)
                feats.append(h)
            if s < len(self.enc_down):
                h = self.enc_down[s](h)
        feats.reverse()
        feats[0] = self.enc0(feats[0])
        return feats

    def top_down(self, feats: list[torch.Tensor] | None = None, n: int | None = None, temperature: float = 1.0,
                 mean: bool = False, z_top: torch.Tensor | None = None):
        """Run the generative pass. With `feats` (from bottom_up) z_l ~ q(z_l | x, z_<l); without, z_l ~
        p(z_l | z_<l) at `temperature`. `mean` takes the mean instead of a draw; `z_top` fixes group 0.
        Returns (likelihood parameters, [(z, q or None, p) per group, top first])."""
        n = len(feats[0]) if feats is not None else n
        s = self.h0.expand(n, -1, -1, -1)
        out = []
        for i, g in enumerate(self.dec):
            s = g["cells"](g["up"](s))
            if i == 0:
                p = Normal.standard((n, self.latent, *self.top_size), s.device)
            else:
                p = Normal.from_params(g["prior"](s))
            q = None
            if feats is not None:
                if i == 0:
                    q = Normal.from_params(g["posterior"](feats[0]))
                else:
                    q = p.residual(g["posterior"](feats[i] + g["enc_merge"](s)))
            dist = q if q is not None else p
            if i == 0 and z_top is not None:
                z = z_top.float()
            else:
                z = dist.mu if mean else dist.sample(1.0 if q is not None else temperature)
            out.append((z, q, p))
            s = g["merge"](torch.cat([s, z.to(s.dtype)], 1))
        return self.head(self.post(s)), out
