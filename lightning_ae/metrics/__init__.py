"""Metrics shared by training, evaluation and benchmarks (one implementation each)."""
