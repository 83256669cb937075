"""Retrieval quality of bit codes with class labels as relevance (Salakhutdinov & Hinton 2009, §5).

- precision within radius r: of the database items in the query's Hamming ball (found through the hash
  table), the share with the query's label; a query whose ball is empty scores 0. `hit_rate` is the share
  of queries with a non-empty ball.
- Hamming ranking: the whole database sorted by Hamming distance to the query (ties in database order).
  precision@k = relevant share of the top k; AP = mean over relevant items of the precision at their rank;
  `map` averages AP over queries over the full ranking, `map_at_k` the AP of the top k (normalised by the
  relevant items found there, 0 if none).
"""
from __future__ import annotations

import time

import numpy as np

from lightning_ae.hashing.codes import as_bits, hamming, pack_bits
from lightning_ae.hashing.index import HashIndex


def _labels(y) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    return np.asarray(y).reshape(-1)


def precision_within_radius(index: HashIndex, db_labels, query_bits, query_labels, radius: int = 2,
                            chunk: int = 256) -> dict[str, float]:
    db_labels, query_labels, query_bits = _labels(db_labels), _labels(query_labels), as_bits(query_bits)
    precision = np.zeros(len(query_bits))
    found = np.zeros(len(query_bits), np.int64)
    for s in range(0, len(query_bits), chunk):
        offsets, ids = index.search_radius(query_bits[s : s + chunk], radius)
        n = np.diff(offsets)
        owner = np.repeat(np.arange(len(n)), n)
        relevant = np.bincount(owner, weights=db_labels[ids] == query_labels[s + owner], minlength=len(n))
        precision[s : s + len(n)] = np.where(n > 0, relevant / np.maximum(n, 1), 0.0)
        found[s : s + len(n)] = n
    return {"precision_radius": float(precision.mean()), "hit_rate": float((found > 0).mean()),
            "mean_found": float(found.mean())}


def ranking_metrics(db_codes: np.ndarray, db_labels, query_codes: np.ndarray, query_labels, k: int = 100,
                    chunk: int = 128) -> dict[str, float]:
    """Hamming-ranking precision@k, mAP@k and mAP over packed codes."""
    db_labels, query_labels = _labels(db_labels), _labels(query_labels)
    k = min(int(k), len(db_codes))
    ap, ap_k, p_k = [], [], []
    ranks = np.arange(1, len(db_codes) + 1)
    for s in range(0, len(query_codes), chunk):
        d = hamming(query_codes[s : s + chunk], db_codes)
        order = np.argsort(d, axis=1, kind="stable")  # radix sort on small integers
        rel = db_labels[order] == query_labels[s : s + chunk, None]
        hits = np.cumsum(rel, axis=1)
        prec_at_rel = np.where(rel, hits / ranks, 0.0)
        ap.append(prec_at_rel.sum(1) / np.maximum(hits[:, -1], 1))
        ap_k.append(prec_at_rel[:, :k].sum(1) / np.maximum(hits[:, k - 1], 1))
        p_k.append(hits[:, k - 1] / k)
    cat = lambda v: float(np.concatenate(v).mean()) if v else 0.0
    return {"precision_at_k": cat(p_k), "map_at_k": cat(ap_k), "map": cat(ap)}


def retrieval_metrics(query_bits, query_labels, db_bits, db_labels, radius: int = 2, k: int = 100,
                      timings: dict | None = None) -> dict[str, float]:
    """Index the database codes, then precision within `radius` (hash look-up), precision@k, mAP@k and mAP
    (Hamming ranking). With a `timings` dict, also records index_build_s, radius_queries_per_s and
    ranking_queries_per_s there (wall clock, this process)."""
    query_bits, db_bits = as_bits(query_bits), as_bits(db_bits)
    if query_bits.shape[1] != db_bits.shape[1]:
        raise ValueError(f"queries have {query_bits.shape[1]} bits but the database {db_bits.shape[1]}")
    t0 = time.perf_counter()
    index = HashIndex(db_bits)
    t1 = time.perf_counter()
    out = precision_within_radius(index, db_labels, query_bits, query_labels, radius)
    t2 = time.perf_counter()
    out |= ranking_metrics(index.codes, db_labels, pack_bits(query_bits), query_labels, k)
    t3 = time.perf_counter()
    out |= {"radius": float(radius), "k": float(min(k, len(db_bits))), "buckets": float(index.num_buckets)}
    if timings is not None:
        nq = max(len(query_bits), 1)
        timings |= {"index_build_s": t1 - t0, "radius_queries_per_s": nq / max(t2 - t1, 1e-9),
                    "ranking_queries_per_s": nq / max(t3 - t2, 1e-9)}
    return out
