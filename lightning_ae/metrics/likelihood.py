"""Negative ELBO and importance-sampled NLL from importance log-weights, and the units they may carry.

For K draws z_k ~ q(z|x), log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), and per image

    negative ELBO ≈ −(1/K) Σ_k log w_k                      (Kingma & Welling 2014, eq. 3)
    IS-NLL        ≈ −(logsumexp_k log w_k − log K)           (Burda et al. 2015, eq. 8)

For K = 1 the two coincide; for K > 1 the IS-NLL is never above the negative ELBO of the same draws
(Jensen), and it tightens towards −log p(x) as K grows (IWAE papers use K = 5000).

What the numbers are depends on the observation model p(x|z) and the data (`likelihood_units`):
- `nats`: a normalised discrete likelihood (Bernoulli on binary pixels, NVAE's discretised logistic
  mixture on 8-bit levels). Reported in nats per image and in bits per dimension, nats / (D·ln 2).
- `cross_entropy`: a Bernoulli on grey-level pixels sums over the outcomes {0, 1}, not over the grey
  levels the data takes, so it is no likelihood of those pixels. The numbers are a cross-entropy: never
  nats, never bits/dim.
- `density`: a continuous density (Gaussian). −log density in nats per image, in the data's units. Bits/dim
  is left out: it describes discrete data only once a dequantisation term is added, and is then an upper
  bound only for a density evaluated at dequantised inputs (Theis et al. 2016: for 8-bit data scaled to
  [0, 1] with uniform noise u, bits/dim ≤ (E_u[−log p(x + u/256)] + D·ln 256) / (D·ln 2)).
"""
from __future__ import annotations

import math

import torch


def importance_estimates(log_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-weights [K, B] → (negative ELBO [B], IS-NLL [B]), in the log-weights' units (nats)."""
    log_w = log_w.double()
    return -log_w.mean(0), -(torch.logsumexp(log_w, 0) - math.log(log_w.shape[0]))


def bits_per_dim(nats: float, dims: int) -> float:
    """Nats per image of D = C·H·W dimensions → bits per dimension."""
    return nats / (dims * math.log(2))


def likelihood_units(observation: str, binary_data: bool) -> str:
    """`nats`, `cross_entropy` or `density` (see the module docstring) for an observation model's kind."""
    if observation == "bernoulli":
        return "nats" if binary_data else "cross_entropy"
    return "density" if observation == "gaussian" else "nats"
