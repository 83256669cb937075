"""Semantic hashing: bit codes, a hash-table index with Hamming-ball look-up, baselines. The retrieval
metrics live with the other metric formulas, in `lightning_ae.metrics.retrieval`.

    index = HashIndex(db_bits)                      # bool [N, B] codes, e.g. model.hash_codes(x)
    offsets, ids = index.search_radius(q_bits, 2)   # every item within Hamming radius 2, per query
    metrics.retrieval.retrieval_metrics(q_bits, q_labels, db_bits, db_labels, radius=2, k=100)
    pca_sign_codes(train_x, x, bits), lsh_codes(train_x, x, bits)   # baselines at the same bit count

Command line (index over MNIST train from a checkpoint, queries from MNIST test, metrics and queries/s for
the model and the baseline): `python -m lightning_ae.hashing --ckpt <run>/checkpoints/last.ckpt`.
"""
from .baselines import lsh_codes, pca_sign_codes
from .codes import hamming, pack_bits, unpack_bits
from .index import HashIndex

__all__ = ["HashIndex", "hamming", "lsh_codes", "pack_bits", "pca_sign_codes", "unpack_bits"]
