"""Bit codes as packed 64-bit words, and exact Hamming distances by XOR + popcount (vectorised)."""
from __future__ import annotations

import itertools

import numpy as np


def as_bits(bits) -> np.ndarray:
    """A torch/numpy [N, B] array of {0, 1} / bool → numpy bool [N, B]."""
    if hasattr(bits, "detach"):
        bits = bits.detach().cpu().numpy()
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"bit codes must be a 2-d [N, bits] array, got shape {bits.shape}")
    return bits.astype(bool) if bits.dtype == bool else bits > 0.5


def words(bits: int) -> int:
    return (int(bits) + 63) // 64


def pack_bits(bits) -> np.ndarray:
    """[N, B] bits → uint64 [N, ⌈B/64⌉]; bit i of the code is bit i % 64 of word i // 64."""
    b = as_bits(bits)
    n, nbits = b.shape
    packed = np.packbits(b, axis=1, bitorder="little")  # [N, ⌈B/8⌉] bytes
    pad = words(nbits) * 8 - packed.shape[1]
    if pad:
        packed = np.concatenate([packed, np.zeros((n, pad), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(packed: np.ndarray, nbits: int) -> np.ndarray:
    raw = np.ascontiguousarray(packed.astype("<u8")).view(np.uint8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :nbits].astype(bool)


def hamming(query: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Packed codes [Q, W] × [N, W] → Hamming distances [Q, N] (uint16), popcount of the XOR."""
    d = np.zeros((len(query), len(db)), np.uint16)
    for w in range(query.shape[1]):
        d += np.bitwise_count(query[:, w, None] ^ db[None, :, w])
    return d


def flip_masks(nbits: int, radius: int) -> np.ndarray:
    """All XOR masks with at most `radius` set bits among `nbits`: uint64 [M, W], the Hamming ball's offsets.

    M = Σ_{j ≤ r} C(B, j), e.g. 529 for B = 32, r = 2.
    """
    masks = []
    for r in range(int(radius) + 1):
        for pos in itertools.combinations(range(nbits), r):
            m = np.zeros(words(nbits), np.uint64)
            for p in pos:
                m[p // 64] |= np.uint64(1) << np.uint64(p % 64)
            masks.append(m)
    return np.stack(masks)
