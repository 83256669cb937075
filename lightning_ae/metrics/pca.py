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
