"""vq/{perplexity,dead_share}: how the scored images use a vector quantiser's codebook."""
from __future__ import annotations

from lightning_ae.evaluation.calls import batched
from lightning_ae.evaluation.capabilities import Quantises
from lightning_ae.evaluation.splits import scored
from lightning_ae.metrics.codebook import codebook_usage


def applies(model, datamodule) -> bool:
    return isinstance(model, Quantises)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    idx = batched(model.code_indices, x, y, int(cfg.batch_size), device).long()
    return {f"vq/{k}": v for k, v in codebook_usage(idx, int(model.num_codes)).items()}
