"""lines/{mean_distance,smoothness,end_angle_error_deg}: ACAI's interpolation metrics on data=lines only (any
model), and the median angle in degrees between each decoded path end and the line it encodes (whether the
model reconstructs lines at all, without which the two metrics say little)."""
from __future__ import annotations

import math

from lightning_ae.evaluation.splits import scored


def applies(model, datamodule) -> bool:
    return getattr(datamodule, "name", "") == "lines"


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    from lightning_ae.metrics.lines import end_angle_errors, interpolation_pairs, interpolation_paths, lines_metrics

    x, _ = scored(datamodule, cfg)
    if len(x) < 2:
        return {}
    pairs = min(int(cfg.lines.pairs), len(x) // 2)
    paths = interpolation_paths(model, x.to(device), pairs=pairs, steps=int(cfg.lines.steps))
    errors = end_angle_errors(paths, *interpolation_pairs(x, pairs))
    return {**{f"lines/{k}": v for k, v in lines_metrics(paths).items()},
            "lines/end_angle_error_deg": math.degrees(float(errors.median()))}
