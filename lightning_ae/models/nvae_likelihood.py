"""NVAE's observation models, as per-image negative log-likelihoods in nats (float32).

- `Bernoulli`: one logit per pixel and channel (binary-ish data: MNIST, digits), data in [0, 1].
- `LogisticMixture`: the discretised logistic mixture of PixelCNN++ (Salimans et al. 2017) that NVAE uses
  for colour images. Data are mapped from `value_range` to [−1, 1] on a grid of 2**bits levels; per pixel
  a mixture of M logistics shared by the channels, channel c's location shifted by Σ_{j<c} a_cj·x_j
  (autoregressive over channels). P(x) is the logistic mass of x's bin ([−∞, …] / [… , ∞] at the edges).
  Parameters per pixel: M·(1 + 2C + C(C−1)/2) (100 for RGB with M = 10).
`mean(out)` gives an image in data space: probabilities, or the mixture's most likely component's location.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lightning_ae.errors import UserError


class Bernoulli:
    kind = "bernoulli"

    def __init__(self, channels: int, **_):
        self.params = channels

    def nll(self, out, x):
        return F.binary_cross_entropy_with_logits(out.float(), x.float(), reduction="none").flatten(1).sum(1)

    def mean(self, out):
        return torch.sigmoid(out.float())


class LogisticMixture:
    kind = "logistic_mixture"

    def __init__(self, channels: int, mixtures: int = 10, bits: int = 8, value_range=(0.0, 1.0)):
        if mixtures < 1 or bits < 1:
            raise UserError("model.mixtures and model.bits must be positive integers")
        self.C, self.M, self.bits = channels, int(mixtures), int(bits)
        self.lo, self.hi = (float(v) for v in value_range)
        self.n_coeffs = channels * (channels - 1) // 2
        self.params = self.M * (1 + 2 * channels + self.n_coeffs)

    def _split(self, out):
        out = out.float()
        B, _, H, W = out.shape
        M, C = self.M, self.C
        logits = out[:, :M]
        rest = out[:, M:].view(B, M, 2 * C + self.n_coeffs, H, W)
        loc, log_s = rest[:, :, :C], rest[:, :, C:2 * C].clamp(min=-7.0)
        coeffs = torch.tanh(rest[:, :, 2 * C:])
        return logits, loc, log_s, coeffs

    def _shift(self, loc, coeffs, x):
        """Location of channel c plus Σ_{j<c} a_cj·x_j; x: [B, 1, C, H, W] in [−1, 1]."""
        locs, k = [loc[:, :, 0]], 0
        for c in range(1, self.C):
            m = loc[:, :, c]
            for j in range(c):
                m = m + coeffs[:, :, k] * x[:, :, j]
                k += 1
            locs.append(m)
        return torch.stack(locs, 2)

    def to_unit(self, x):
        return 2.0 * (x.float() - self.lo) / (self.hi - self.lo) - 1.0

    def nll(self, out, x):
        logits, loc, log_s, coeffs = self._split(out)
        x = self.to_unit(x).unsqueeze(1)  # [B, 1, C, H, W]
        mu = self._shift(loc, coeffs, x)
        half_bin = 1.0 / (2**self.bits - 1)
        centred, inv_s = x - mu, torch.exp(-log_s)
        plus, minus = inv_s * (centred + half_bin), inv_s * (centred - half_bin)
        log_cdf_plus = plus - F.softplus(plus)  # log σ(plus), for the lowest bin
        log_sf_minus = -F.softplus(minus)  # log (1 − σ(minus)), for the highest bin
        delta = torch.sigmoid(plus) - torch.sigmoid(minus)
        mid = inv_s * centred  # density at the bin centre × bin width, where the mass underflows
        log_mid = mid - log_s - 2.0 * F.softplus(mid) + math.log(2 * half_bin)
        inner = torch.where(delta > 1e-5, delta.clamp(min=1e-12).log(), log_mid)
        log_p = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_sf_minus, inner))
        log_p = log_p.sum(2) + F.log_softmax(logits, dim=1)  # [B, M, H, W]
        return -torch.logsumexp(log_p, dim=1).flatten(1).sum(1)

    def mean(self, out):
        logits, loc, log_s, coeffs = self._split(out)
        pick = F.one_hot(logits.argmax(1), self.M).permute(0, 3, 1, 2).unsqueeze(2).float()  # [B, M, 1, H, W]
        loc_k = (loc * pick).sum(1, keepdim=True)
        coeffs_k = (coeffs * pick).sum(1, keepdim=True)
        xs = []
        for c in range(self.C):  # channels in order, each shifted by the ones before (coefficient c(c−1)/2 + j)
            m = loc_k[:, :, c]
            for j in range(c):
                m = m + coeffs_k[:, :, c * (c - 1) // 2 + j] * xs[j]
            xs.append(m.clamp(-1.0, 1.0))
        x = torch.stack(xs, 2)
        return (x.squeeze(1) + 1.0) / 2.0 * (self.hi - self.lo) + self.lo


def make_observation(kind: str, channels: int, data_likelihood: str, mixtures: int, bits: int, value_range):
    """`auto`: Bernoulli for data whose config says bernoulli, the logistic mixture otherwise."""
    if kind == "auto":
        kind = "bernoulli" if data_likelihood == "bernoulli" else "logistic_mixture"
    if kind == "bernoulli":
        return Bernoulli(channels)
    if kind == "logistic_mixture":
        return LogisticMixture(channels, mixtures, bits, value_range)
    raise UserError(f"unknown model.observation {kind!r}; use auto, bernoulli or logistic_mixture")
