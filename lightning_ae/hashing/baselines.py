"""Data-independent and linear baselines at the same bit count as the model (codes as bool tensors [N, bits]).

- PCA sign: project centred data on the top `bits` principal directions of `train_x`, keep the signs.
- LSH (Charikar 2002, random hyperplanes): signs of centred data projected on `bits` Gaussian directions.
"""
from __future__ import annotations

import numpy as np
import torch

from lightning_ae.errors import UserError


def _flat(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x.detach().cpu()
    return x.reshape(len(x), -1).float()


def pca_directions(train: torch.Tensor, bits: int) -> torch.Tensor:
    """The top `bits` principal directions [D, bits] of the rows of `train` (centred), largest first.

    Exact (eigh of the smaller of the D×D covariance and the N×N Gram matrix) up to 1,024; beyond that a
    seeded randomised SVD. Signs are fixed (largest entry positive), so every call gives the same projection.
    """
    centred = train - train.mean(0)
    n, d = centred.shape
    if min(n, d) <= 1024:
        small = centred.T @ centred if d <= n else centred @ centred.T
        vals, vecs = torch.linalg.eigh(small.double())
        top = vecs[:, -bits:].flip(1).float()
        if d > n:  # Gram trick: right singular vectors from left ones
            top = centred.T @ top
            top = top / top.norm(dim=0, keepdim=True).clamp_min(1e-12)
    else:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            _, _, v = torch.svd_lowrank(centred, q=min(bits + 16, n, d), niter=6)
        top = v[:, :bits]
    flip = torch.sign(top.gather(0, top.abs().argmax(0, keepdim=True)))
    return top * flip


def pca_sign_codes(train_x, x, bits: int) -> torch.Tensor:
    train, x = _flat(train_x), _flat(x)
    if bits > min(train.shape):
        raise UserError(f"PCA sign codes: {bits} bits need at least {bits} training images and input "
                        f"dimensions, got {tuple(train.shape)}")
    return (x - train.mean(0)) @ pca_directions(train, bits) > 0


def lsh_codes(train_x, x, bits: int, seed: int = 0) -> torch.Tensor:
    train, x = _flat(train_x), _flat(x)
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(train.shape[1], bits, generator=g)
    return (x - train.mean(0)) @ directions > 0
