"""Observation models p(x | decoder output), as per-image negative log-likelihoods in nats (float32).

- bernoulli: the decoder emits logits; NLL = binary cross-entropy summed over pixels (data in [0, 1]).
- gaussian:  the decoder emits the mean; fixed std σ; NLL = ½‖x − μ‖²/σ² + D·log(σ√(2π)).
- `LogisticMixture`: the discretised logistic mixture of PixelCNN++ (Salimans et al. 2017) that NVAE uses
  for colour images. Data are mapped from `value_range` to [−1, 1] on a grid of 2**bits levels; per pixel
  a mixture of M logistics shared by the channels, channel c's location shifted by Σ_{j<c} a_cj·x_j
  (autoregressive over channels). P(x) is the logistic mass of x's bin ([−∞, …] / [… , ∞] at the edges).
`mean(out)` gives an image in data space: probabilities, the mean, or the mixture's most likely component's
location; `out_channels(C)` is how many channels the decoder emits for C image channels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lightning_ae.errors import UserError

KINDS = ("bernoulli", "gaussian")


class Likelihood:
    def __init__(self, kind: str = "bernoulli", std: float = 0.1):
        if kind not in KINDS:
            raise UserError(f"unknown likelihood {kind!r}; set model.likelihood to one of {', '.join(KINDS)}")
        if std <= 0:
            raise UserError(f"model.likelihood_std must be positive, got {std}")
        self.kind, self.std = kind, float(std)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-image NLL, shape [B]."""
        out, x = out.float(), x.float()  # sums over pixels stay in float32 under mixed precision
        if self.kind == "bernoulli":
            per_pixel = F.binary_cross_entropy_with_logits(out, x, reduction="none")
            return per_pixel.flatten(1).sum(1)
        sq = (x - out).pow(2).flatten(1)
        return 0.5 * sq.sum(1) / self.std**2 + sq.shape[1] * math.log(self.std * math.sqrt(2 * math.pi))

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder output in data space (probabilities for bernoulli)."""
        return torch.sigmoid(out) if self.kind == "bernoulli" else out

    def out_channels(self, channels: int) -> int:
        return channels  # one logit or mean per pixel value


class LogisticMixture:
    kind = "logistic_mixture"

    def __init__(self, channels: int, mixtures: int = 10, bits: int = 8, value_range=(0.0, 1.0)):
        if mixtures < 1 or bits < 1:
            raise UserError("model.mixtures and model.bits must be positive integers")
        self.C, self.M, self.bits = channels, int(mixtures), int(bits)
        self.lo, self.hi = (float(v) for v in value_range)
        self.n_coeffs = channels * (channels - 1) // 2

    def out_channels(self, channels: int) -> int:
        """M·(1 + 2C + C(C−1)/2) decoder output channels: mixture logits, locations, log-scales, coefficients."""
        return self.M * (1 + 2 * channels + channels * (channels - 1) // 2)

    def _split(self, out):
        out = out.float()
        B, _, H, W = out.shape
        M, C = self.M, self.C
        logits = out[:, :M]
        rest = out[:, M:].view(B, M, 2 * C + self.n_coeffs, H, W)
        loc, log_s = rest[:, :, :C], rest[:, :, C:2 * C].clamp(min=-7.0)
        coeffs = torch.tanh(rest[:, :, 2 * C:])
        return logits, loc, log_s, coeffs

    @staticmethod
    def _channel_location(loc, coeffs, c: int, previous: list):
        """Location of channel c: loc_c + Σ_{j<c} a_cj·x_j, a_cj = coeffs[c(c−1)/2 + j], given previous = [x_0 …
        x_{c−1}]."""
        m = loc[:, :, c]
        for j, xj in enumerate(previous):
            m = m + coeffs[:, :, c * (c - 1) // 2 + j] * xj
        return m

    def _shift(self, loc, coeffs, x):
        """Every channel's location given x: [B, 1, C, H, W] in [−1, 1]."""
        channels = [x[:, :, j] for j in range(self.C)]
        return torch.stack([self._channel_location(loc, coeffs, c, channels[:c]) for c in range(self.C)], 2)

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
        for c in range(self.C):  # channels in order, each shifted by the ones before
            xs.append(self._channel_location(loc_k, coeffs_k, c, xs).clamp(-1.0, 1.0))
        x = torch.stack(xs, 2)
        return (x.squeeze(1) + 1.0) / 2.0 * (self.hi - self.lo) + self.lo


def observation_model(kind: str, channels: int, data_likelihood: str, mixtures: int, bits: int, value_range):
    """NVAE's observation model. `auto`: Bernoulli for data whose config says bernoulli, the logistic mixture
    otherwise."""
    if kind == "auto":
        kind = "bernoulli" if data_likelihood == "bernoulli" else "logistic_mixture"
    if kind == "bernoulli":
        return Likelihood("bernoulli")
    if kind == "logistic_mixture":
        return LogisticMixture(channels, mixtures, bits, value_range)
    raise UserError(f"unknown model.observation {kind!r}; use auto, bernoulli or logistic_mixture")
