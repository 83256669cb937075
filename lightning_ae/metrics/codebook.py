"""Codebook usage of a vector quantiser: perplexity exp(H(p)) and the share of dead codes.

p is the empirical distribution of code indices; perplexity runs from 1 (one code used) to K (uniform use).
A code is dead when no index in the given set points at it.
"""
from __future__ import annotations

import torch


def usage_from_counts(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-code counts [K] → {"perplexity": exp(H), "dead_share": share of codes with count 0} (0-dim tensors)."""
    counts = counts.double()
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -(p * p.clamp_min(1e-30).log()).sum()
    return {"perplexity": entropy.exp().float(), "dead_share": (counts == 0).double().mean().float()}


def codebook_usage(indices: torch.Tensor, num_codes: int) -> dict[str, float]:
    """Code indices (any shape, values in [0, num_codes)) → {"perplexity": float, "dead_share": float}."""
    idx = torch.as_tensor(indices).reshape(-1).long()
    if len(idx) and (idx.min() < 0 or idx.max() >= num_codes):
        raise ValueError(f"code indices must lie in [0, {num_codes}), got [{int(idx.min())}, {int(idx.max())}]")
    counts = torch.bincount(idx.cpu(), minlength=num_codes)
    return {k: float(v) for k, v in usage_from_counts(counts).items()}
