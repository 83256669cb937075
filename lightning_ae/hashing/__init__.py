"""Semantic hashing: bit codes, a hash-table index with Hamming-ball look-up, retrieval metrics."""
