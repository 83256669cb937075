"""What a model can do, as the evaluation parts ask it: one small `Protocol` per ability.

A variant declares an ability by having the method (and, for sampling, `can_sample = True`); no
registration and no evaluation code per variant. `isinstance(model, Encodes)` checks for the members.
Methods that also take the label (a `y` parameter, e.g. CVAE's) are given it (`calls.call_with_labels`).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Reconstructs(Protocol):
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Encodes(Protocol):
    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class HasLogWeights(Protocol):
    """Importance log-weights log p(x|z) + log p(z) − log q(z|x) for k draws: [k, B] (VAE, CVAE, NVAE)."""

    def log_weights(self, x: torch.Tensor, k: int = 1) -> torch.Tensor: ...


@runtime_checkable
class Samples(Protocol):
    """`sample(n)` images from the prior; `can_sample` is False where the prior is not a model of the data."""

    can_sample: bool

    def sample(self, n: int) -> torch.Tensor: ...


@runtime_checkable
class Corrupts(Protocol):
    """The training corruption of a denoising model (noise or inpainting masks)."""

    def corrupt(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CorruptsWithMask(Protocol):
    """The same corruption with the mask of the pixels it hid ([B, 1, H, W], True = hidden; None for noise)."""

    def corrupt_with_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]: ...


@runtime_checkable
class Hashes(Protocol):
    """Binary codes [B, bits] in {0, 1} for semantic hashing."""

    def hash_codes(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Quantises(Protocol):
    """Indices into a codebook of `num_codes` vectors (VQ-VAE)."""

    num_codes: int

    def code_indices(self, x: torch.Tensor) -> torch.Tensor: ...
