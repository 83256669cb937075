"""Evaluation of any lightning_ae checkpoint: every metric that applies to its variant."""
