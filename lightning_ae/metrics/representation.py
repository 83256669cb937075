"""How much class information the frozen latent codes hold (ACAI, Berthelot et al. 2019, §5).

- linear probe: one linear layer (multinomial logistic regression on standardised codes) trained on the
  training split's codes, accuracy on the test split's codes;
- K-means accuracy: K-means with k = number of classes on the test codes, each cluster mapped to one class
  by the Hungarian algorithm (the mapping that maximises agreement), then accuracy.
"""
from __future__ import annotations

import numpy as np
import torch


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def cluster_accuracy(labels, clusters) -> float:
    """Accuracy of cluster ids against labels under the best one-to-one mapping (scipy's Hungarian solver)."""
    from scipy.optimize import linear_sum_assignment

    labels, clusters = _np(labels).astype(np.int64), _np(clusters).astype(np.int64)
    _, li = np.unique(labels, return_inverse=True)
    _, ci = np.unique(clusters, return_inverse=True)
    counts = np.zeros((ci.max() + 1, li.max() + 1), dtype=np.int64)
    np.add.at(counts, (ci, li), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(labels))


def linear_probe_accuracy(z_train, y_train, z_test, y_test, max_iter: int = 500, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z_train, z_test = _np(z_train).reshape(len(z_train), -1), _np(z_test).reshape(len(z_test), -1)
    y_train, y_test = _np(y_train), _np(y_test)
    if len(np.unique(y_train)) < 2:
        return float("nan")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    import warnings

    with warnings.catch_warnings():  # a probe stopped by max_iter still gives a fair accuracy
        warnings.simplefilter("ignore")
        probe.fit(z_train, y_train)
    return float((probe.predict(z_test) == y_test).mean())


def kmeans_accuracy(z, y, k: int, seed: int = 0, n_init: int = 10) -> float:
    from sklearn.cluster import KMeans

    z = _np(z).reshape(len(z), -1).astype(np.float64)
    k = int(min(k, len(z)))
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(z)
    return cluster_accuracy(_np(y), clusters)
