"""Negative ELBO and importance-sampled NLL from a model's importance log-weights.

A model with likelihood support implements `log_weights(x, k) -> [k, B]`: log w = log p(x|z) + log p(z)
− log q(z|x) for k draws z ~ q(z|x) (see `lightning_ae.models.vae.VAE`). From the same K draws:

    negative ELBO ≈ −(1/K) Σ_k log w_k                      (Kingma & Welling 2014, eq. 3)
    IS-NLL        ≈ −(logsumexp_k log w_k − log K)           (Burda et al. 2015, eq. 8)

Both per image in nats (mean over images) and in bits per dimension (nats / (D·ln 2), D = C·H·W).
For K = 1 the two coincide; for K > 1 the IS-NLL is never above the negative ELBO of the same draws
(Jensen), and it tightens towards −log p(x) as K grows (IWAE papers use K = 5000).
A `log_weights` that also takes the label (CVAE: `log_weights(x, y, k)`) is given it by keyword.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from lightning_ae.evaluation.calls import call_with_labels


@torch.no_grad()
def log_weights(fn: Callable, x: torch.Tensor, y: torch.Tensor | None, k: int, chunk: int) -> torch.Tensor:
    """K log-weights [K, B] for one batch, drawn `chunk` at a time to bound memory."""
    parts, left = [], k
    while left > 0:
        c = min(chunk, left)
        parts.append(call_with_labels(fn, x, y, k=c).float())
        left -= c
    return torch.cat(parts, 0)


@torch.no_grad()
def likelihood_metrics(fn: Callable, x: torch.Tensor, y: torch.Tensor | None = None, k: int = 100,
                       chunk: int = 50, batch_size: int = 500, device: str | torch.device = "cpu") -> dict[str, float]:
    """neg_elbo, nll_is (nats per image) and their bits/dim, over all images of x."""
    if k < 1:
        from lightning_ae.errors import UserError

        raise UserError(f"evaluation.is_samples must be at least 1, got {k}")
    dims = x[0].numel()
    elbo_sum = nll_sum = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        yb = y[i : i + batch_size].to(device) if y is not None else None
        lw = log_weights(fn, xb, yb, k, chunk).double()
        elbo_sum += float(-lw.mean(0).sum())
        nll_sum += float(-(torch.logsumexp(lw, 0) - math.log(k)).sum())
    n, per_bit = len(x), dims * math.log(2)
    return {
        "neg_elbo": elbo_sum / n,
        "nll_is": nll_sum / n,
        "neg_elbo_bpd": elbo_sum / n / per_bit,
        "nll_is_bpd": nll_sum / n / per_bit,
        "is_samples": float(k),
    }
