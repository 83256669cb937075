"""The linear baseline of an autoencoder: PCA with as many components as the model's code has numbers
(Hinton & Salakhutdinov 2006 compare the 30-d deep autoencoder with 30-component PCA)."""
from __future__ import annotations

import numpy as np
import torch


def pca_components(train_x: torch.Tensor, components: int) -> int:
    """How many components PCA can fit: at most the training images and their dimensions."""
    return int(min(components, *train_x.flatten(1).shape))


def pca_reconstruct(train_x: torch.Tensor, x: torch.Tensor, components: int, seed: int = 0) -> torch.Tensor:
    """Project x onto the first `components` principal components of train_x and back (sklearn PCA)."""
    from sklearn.decomposition import PCA

    flat = train_x.flatten(1).double().numpy()
    pca = PCA(n_components=pca_components(train_x, components), random_state=seed).fit(flat)
    recon = pca.inverse_transform(pca.transform(x.flatten(1).double().numpy()))
    return torch.from_numpy(np.asarray(recon)).float().view_as(x)


def rate_matched_components(bits: float, bits_per_coefficient: int = 8) -> int:
    """How many PCA coefficients of `bits_per_coefficient` bits fit in a code of `bits` bits."""
    return int(bits // bits_per_coefficient)


def quantised_pca_reconstruct(train_x: torch.Tensor, x: torch.Tensor, components: int, bits_per_coefficient: int = 8,
                              seed: int = 0) -> torch.Tensor:
    """A fixed-rate transform code: the first `components` PCA coefficients of x, each quantised uniformly to
    2**bits_per_coefficient levels over its range on train_x (test values clamped into it), and back.

    The VQ-VAE row's rate-matched baseline: a VQ-VAE code of h·w indices into K vectors costs h·w·log2 K bits per
    image (van den Oord et al. 2017), so PCA gets the same bits as 8-bit coefficients. The ranges and the basis are
    side information fitted on training data, like the codebook and the decoder.
    """
    from sklearn.decomposition import PCA

    flat = train_x.flatten(1).double().numpy()
    pca = PCA(n_components=pca_components(train_x, components), random_state=seed).fit(flat)
    train_c, c = pca.transform(flat), pca.transform(x.flatten(1).double().numpy())
    lo, hi = train_c.min(0), train_c.max(0)
    step = np.where(hi > lo, (hi - lo) / (2**bits_per_coefficient - 1), 1.0)
    levels = np.clip(np.round((c - lo) / step), 0, 2**bits_per_coefficient - 1)
    recon = pca.inverse_transform(lo + levels * step)
    return torch.from_numpy(np.asarray(recon)).float().view_as(x)
