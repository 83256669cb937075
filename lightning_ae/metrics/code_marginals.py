"""The VQ-VAE prior's baseline sampler: code grids whose positions are drawn independently, each from that
position's empirical code frequencies on the training images.

A PixelCNN prior (van den Oord et al. 2017, §3.2) models the dependencies between positions; this sampler keeps
every position's marginal and drops the dependencies. Samples of the prior that score no better than these (FID
on the same classifier and sample count) show no learned structure beyond the marginals.
"""
from __future__ import annotations

import torch


def position_marginals(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Code indices [N, h, w] → per-position code frequencies [h, w, K] (each position sums to 1)."""
    n, h, w = indices.shape
    flat = indices.long().reshape(n, h * w)
    counts = torch.zeros(h * w, num_codes, dtype=torch.float64)
    counts.scatter_add_(1, flat.T.contiguous(), torch.ones(h * w, n, dtype=torch.float64))
    return (counts / n).view(h, w, num_codes)


def sample_independent(marginals: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n code grids [n, h, w], each position drawn on its own from its marginal [h, w, K]."""
    h, w, k = marginals.shape
    draws = torch.multinomial(marginals.view(h * w, k).float(), n, replacement=True, generator=generator)  # [h·w, n]
    return draws.T.reshape(n, h, w)
