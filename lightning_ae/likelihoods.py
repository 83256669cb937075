"""Observation models p(x | decoder output), as per-image negative log-likelihoods in nats.

- bernoulli: the decoder emits logits; NLL = binary cross-entropy summed over pixels (data in [0, 1]).
- gaussian:  the decoder emits the mean; fixed std σ; NLL = ½‖x − μ‖²/σ² + D·log(σ√(2π)).
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
