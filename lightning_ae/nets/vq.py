"""Vector quantisation (van den Oord et al., NeurIPS 2017) and a conv encoder/decoder with a spatial latent grid.

`VectorQuantizer` maps every D-vector of an encoder grid [B, D, h, w] to its nearest of K codebook vectors:

    k* = argmin_k ‖z_e − e_k‖²,   z_q = e_{k*},   forward output z_e + sg[z_q − z_e]  (straight-through, §3.1)

Codebook learning, one of:
- gradient: the codebook term ‖sg[z_e] − e‖² (eq. 3, second term) trains `codebook` as a parameter;
- EMA (appendix A.1): N_k ← γN_k + (1−γ)n_k,  m_k ← γm_k + (1−γ)Σ_{i: k*_i = k} z_e,i,  e_k = m_k / N_k
  (N Laplace-smoothed), γ = `decay`; no codebook loss.
The commitment term ‖z_e − sg[e]‖² is returned either way; the model weighs it by β and adds it. Both
terms are means over the D·h·w entries of an image's grid (not sums), the balance β = 0.25 was set for.

Initialisation (`data_init`): the first training batch places the codes on random encoder outputs.
Dead codes: `usage` is an EMA of each code's assignment count per step; codes whose usage falls below
`dead_threshold` × the mean usage (a share of the uniform use) are restarted on randomly chosen encoder
outputs of the current batch.

Numerics: distances, counts and codebook arithmetic run in float32 with autocast switched off locally,
so 16-mixed / bf16-mixed cannot flip assignments or swamp the EMA sums.
Distributed: counts, sums and usage are summed over processes (all_reduce) before the EMA update, and
restart vectors come from rank 0 (broadcast), so every rank holds the same codebook.
"""
from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .layers import activation


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _float32(device: torch.device):
    """A region where autocast is off, so the maths stays in float32 whatever the trainer's precision."""
    return torch.autocast(device_type=device.type, enabled=False) if torch.is_autocast_enabled(device.type) \
        else contextlib.nullcontext()


class VectorQuantizer(nn.Module):
    def __init__(self, num_codes: int, dim: int, ema: bool = True, decay: float = 0.99, eps: float = 1e-5,
                 restart_dead: bool = True, dead_threshold: float = 0.1, data_init: bool = True):
        super().__init__()
        self.num_codes, self.dim = int(num_codes), int(dim)
        self.ema, self.decay, self.eps = ema, float(decay), float(eps)
        self.restart_dead, self.dead_threshold = restart_dead, float(dead_threshold)
        init = torch.empty(self.num_codes, self.dim).uniform_(-1.0 / self.num_codes, 1.0 / self.num_codes)
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(self.num_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        # data_init: the first training batch sets the codes to random encoder outputs (then this flag is 1)
        self.register_buffer("initialised", torch.tensor(0.0 if data_init else 1.0))
        # EMA of assignments per code per step (all processes together); starts at 1 = "alive"
        self.register_buffer("usage", torch.ones(self.num_codes))

    # -- assignment -----------------------------------------------------------------------------
    @torch.no_grad()
    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of `flat` [N, D], computed in float32."""
        with _float32(flat.device):
            e = self.codebook.float()
            d = flat.float().pow(2).sum(1, keepdim=True) - 2 * flat.float() @ e.t() + e.pow(2).sum(1)
            return d.argmin(1)

    def indices(self, z_e: torch.Tensor) -> torch.Tensor:
        """[B, D, h, w] → code indices [B, h, w]."""
        b, _, h, w = z_e.shape
        return self.nearest(z_e.permute(0, 2, 3, 1).reshape(-1, self.dim)).view(b, h, w)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Code indices [B, h, w] → code vectors [B, D, h, w]."""
        return F.embedding(idx, self.codebook).permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> dict[str, torch.Tensor]:
        """Quantise; returns z_q (straight-through), indices, and per-image codebook/commitment terms, each a
        mean over the image's D·h·w latent entries (as the reference's reduce_mean, so β keeps its meaning)."""
        if self.training and not self.initialised:
            self.restart(z_e.detach().float().permute(0, 2, 3, 1).reshape(-1, self.dim),
                         torch.ones(self.num_codes, dtype=torch.bool, device=z_e.device))
            self.initialised.fill_(1.0)
        idx = self.indices(z_e)
        with _float32(z_e.device):
            z_e32 = z_e.float()
            z_q = self.lookup(idx).float()
            commitment = (z_e32 - z_q.detach()).pow(2).flatten(1).mean(1)
            codebook = (z_e32.detach() - z_q).pow(2).flatten(1).mean(1) if not self.ema else torch.zeros_like(commitment)
            if self.training:
                self.update(z_e32.detach(), idx)
        z_st = z_e + (z_q - z_e32).detach().to(z_e.dtype)  # straight-through: gradient of z_q → z_e
        return {"z_q": z_st, "indices": idx, "codebook": codebook, "commitment": commitment}

    # -- codebook statistics (training only) ------------------------------------------------------
    @torch.no_grad()
    def update(self, z_e: torch.Tensor, idx: torch.Tensor) -> None:
        """EMA codebook step (if enabled), usage tracking and dead-code restarts; float32, synced across ranks."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.dim)
        idx = idx.reshape(-1)
        counts = torch.bincount(idx, minlength=self.num_codes).float()
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat) if self.ema else None
        if _distributed():
            dist.all_reduce(counts)
            if sums is not None:
                dist.all_reduce(sums)
        self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        if self.ema:
            self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            n = self.ema_count.sum()
            smoothed = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n
            self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(1))
        if self.restart_dead:
            self.restart(flat)

    def dead(self) -> torch.Tensor:
        """Codes whose EMA usage is below `dead_threshold` × the mean usage (the uniform share)."""
        return self.usage < self.dead_threshold * self.usage.mean()

    @torch.no_grad()
    def restart(self, flat: torch.Tensor, dead: torch.Tensor | None = None) -> int:
        """Move dead codes onto random encoder outputs of this batch (chosen on rank 0). Returns how many."""
        dead = self.dead() if dead is None else dead
        n = int(dead.sum())
        if n == 0:
            return 0
        pick = torch.randint(len(flat), (n,), device=flat.device)
        new = flat[pick] + 1e-3 * torch.randn(n, self.dim, device=flat.device)
        if _distributed():
            dist.broadcast(new, src=0)
        self.codebook.data[dead] = new.to(self.codebook.dtype)
        if self.ema:
            self.ema_sum[dead] = new
            self.ema_count[dead] = 1.0
        self.usage[dead] = self.usage.mean()  # a grace period at the uniform share
        return n


class ResBlock(nn.Module):
    """x + conv1×1(act(conv3×3(act(x)))), the paper's residual block. The first activation is not in place,
    so the skip path carries x itself, not act(x)."""

    def __init__(self, channels: int, hidden: int, act: str):
        super().__init__()
        self.body = nn.Sequential(activation(act, inplace=False), nn.Conv2d(channels, hidden, 3, padding=1),
                                  activation(act), nn.Conv2d(hidden, channels, 1))

    def forward(self, x):
        return x + self.body(x)


class VQConv:
    """Net spec for a spatial latent grid (the paper's CIFAR-10 architecture, sizes from config).

    encoder(shape, dim): `downsample` stride-2 4×4 convs (the first to `hidden/2` channels), a 3×3 conv,
    `res_blocks` residual blocks, a 1×1 conv to `dim`: [B, C, H, W] → [B, dim, H/2^s, W/2^s].
    decoder(dim, shape): the mirror with stride-2 4×4 transposed convs; output padding is chosen per level so
    odd sizes (28 → 14 → 7 → 3 → 7 …) come back exactly.
    """

    def __init__(self, hidden: int = 128, res_hidden: int = 32, res_blocks: int = 2, downsample: int = 2,
                 activation: str = "relu"):
        self.hidden, self.res_hidden, self.res_blocks = int(hidden), int(res_hidden), int(res_blocks)
        self.downsample, self.act = int(downsample), activation

    def _sizes(self, n: int) -> list[int]:
        sizes = [n]
        for _ in range(self.downsample):
            sizes.append(sizes[-1] // 2)
        if sizes[-1] < 1:
            raise ValueError(f"image side {n} is too small for {self.downsample} stride-2 convs")
        return sizes

    def _chans(self) -> list[int]:
        return [max(self.hidden // 2, 1)] * (self.downsample - 1) + [self.hidden]

    def grid(self, shape) -> tuple[int, int]:
        _, h, w = shape
        return self._sizes(h)[-1], self._sizes(w)[-1]

    def encoder(self, shape, dim: int) -> nn.Module:
        c = shape[0]
        layers: list[nn.Module] = []
        for i, out in enumerate(self._chans()):
            if i:
                layers.append(activation(self.act))
            layers.append(nn.Conv2d(c, out, 4, stride=2, padding=1))
            c = out
        layers.append(nn.Conv2d(c, self.hidden, 3, padding=1))
        layers += [ResBlock(self.hidden, self.res_hidden, self.act) for _ in range(self.res_blocks)]
        layers += [activation(self.act), nn.Conv2d(self.hidden, dim, 1)]
        return nn.Sequential(*layers)

    def decoder(self, dim: int, shape) -> nn.Module:
        c, h, w = shape
        hs, ws = self._sizes(h), self._sizes(w)
        layers: list[nn.Module] = [nn.Conv2d(dim, self.hidden, 3, padding=1)]
        layers += [ResBlock(self.hidden, self.res_hidden, self.act) for _ in range(self.res_blocks)]
        chans = self._chans()[::-1][1:] + [c]
        ch = self.hidden
        for i, out in enumerate(chans):
            level = self.downsample - i  # going from size index `level` to `level - 1`
            pad = (hs[level - 1] - 2 * hs[level], ws[level - 1] - 2 * ws[level])
            layers += [activation(self.act), nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1, output_padding=pad)]
            ch = out
        return nn.Sequential(*layers)
