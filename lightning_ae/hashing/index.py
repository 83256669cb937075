"""A semantic-hashing index: codes are memory addresses (Salakhutdinov & Hinton 2009, §4).

Items with the same B-bit code share a bucket of a hash table; the neighbours of a query within Hamming
radius r are the buckets at the addresses query ⊕ m for every mask m with ≤ r set bits (a Hamming ball of
Σ_{j≤r} C(B, j) addresses), so the look-up cost does not grow with the data set. Exact Hamming ranking over
the packed codes (XOR + popcount) is there for ranking metrics and as a reference.

Layout: `keys` (the distinct codes, sorted), `offsets`/`ids` (bucket k holds ids[offsets[k]:offsets[k+1]]),
and `table`, a dict from a code's bytes to its bucket. `search_radius` probes the table for all queries at
once: by binary search in `keys` when a code fits one 64-bit word, by dict look-ups otherwise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .codes import as_bits, flip_masks, hamming, pack_bits


class HashIndex:
    def __init__(self, bits, ids=None):
        """Index the [N, B] bit codes `bits`; item i gets id `ids[i]` (default i)."""
        b = as_bits(bits)
        self.nbits = b.shape[1]
        self.codes = pack_bits(b)  # [N, W], in item order (for ranking)
        self.item_ids = np.arange(len(b), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        if len(self.item_ids) != len(b):
            raise ValueError(f"{len(self.item_ids)} ids for {len(b)} codes")
        self._build_buckets()

    def _build_buckets(self) -> None:
        order = np.lexsort(self.codes.T[::-1]) if len(self.codes) else np.zeros(0, np.int64)
        sorted_codes = self.codes[order]
        new = np.ones(len(order), bool)
        if len(order) > 1:
            new[1:] = (sorted_codes[1:] != sorted_codes[:-1]).any(1)
        starts = np.flatnonzero(new)
        self.keys = sorted_codes[starts]
        self.offsets = np.append(starts, len(order)).astype(np.int64)
        self.ids = self.item_ids[order]
        self._make_table()

    def _make_table(self) -> None:
        self.table = {k.tobytes(): i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def num_buckets(self) -> int:
        return len(self.keys)

    # -- look-up -------------------------------------------------------------------------------
    def lookup(self, code) -> np.ndarray:
        """Ids stored at exactly this code ([B] bits)."""
        k = self.table.get(pack_bits(as_bits(np.asarray(code)[None]))[0].tobytes())
        return np.empty(0, np.int64) if k is None else self.ids[self.offsets[k] : self.offsets[k + 1]]

    def search_radius(self, query_bits, radius: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """All items within Hamming distance `radius` of each query, by probing the hash table.

        Returns CSR arrays (offsets [Q+1], ids): query q's neighbours are ids[offsets[q]:offsets[q+1]],
        grouped by probe (distance 0 first), in no particular order inside a distance.
        """
        q = pack_bits(query_bits)
        masks = flip_masks(self.nbits, radius)
        if q.shape[1] == 1:  # one word: binary search in the sorted keys, all probes at once
            probes = q[:, None, 0] ^ masks[None, :, 0]  # [Q, M]
            pos = np.searchsorted(self.keys[:, 0], probes).clip(max=max(len(self.keys) - 1, 0))
            hit = self.keys[pos, 0] == probes if len(self.keys) else np.zeros(probes.shape, bool)
            qi, mi = np.nonzero(hit)
            buckets = pos[qi, mi]
        else:  # wider codes: dict look-ups
            qi, buckets = [], []
            for i, code in enumerate(q):
                for m in masks:
                    k = self.table.get((code ^ m).tobytes())
                    if k is not None:
                        qi.append(i)
                        buckets.append(k)
            qi, buckets = np.asarray(qi, np.int64), np.asarray(buckets, np.int64)
        starts, sizes = self.offsets[buckets], self.offsets[buckets + 1] - self.offsets[buckets]
        counts = np.bincount(qi, weights=sizes, minlength=len(q)).astype(np.int64)
        total = int(sizes.sum())
        flat = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(starts, sizes)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), self.ids[flat]

    def hamming(self, query_bits) -> np.ndarray:
        """Exact Hamming distances [Q, N] from each query to every indexed item (item order)."""
        return hamming(pack_bits(query_bits), self.codes)

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, nbits=self.nbits, codes=self.codes, item_ids=self.item_ids, keys=self.keys,
                     offsets=self.offsets, ids=self.ids)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "HashIndex":
        with np.load(path) as f:
            self = cls.__new__(cls)
            self.nbits = int(f["nbits"])
            self.codes, self.item_ids = f["codes"], f["item_ids"]
            self.keys, self.offsets, self.ids = f["keys"], f["offsets"], f["ids"]
        self._make_table()
        return self
