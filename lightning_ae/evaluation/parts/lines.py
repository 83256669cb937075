"""lines/{mean_distance,smoothness}: ACAI's interpolation metrics, on data=lines only (any model)."""
from __future__ import annotations

from lightning_ae.evaluation.splits import scored


def applies(model, datamodule) -> bool:
    return getattr(datamodule, "name", "") == "lines"


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    from lightning_ae.metrics.lines import interpolation_paths, lines_metrics

    x, _ = scored(datamodule, cfg)
    if len(x) < 2:
        return {}
    pairs = min(int(cfg.lines.pairs), len(x) // 2)
    paths = interpolation_paths(model, x.to(device), pairs=pairs, steps=int(cfg.lines.steps))
    return {f"lines/{k}": v for k, v in lines_metrics(paths).items()}
