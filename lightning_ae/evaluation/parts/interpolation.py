"""interpolation/strips: a PNG of latent interpolations for any model with `encode`/`decode` (`interpolate`).

Each row is one pair of scored images: the input a, the decoded path from a's code to b's code (`steps` images,
ends included, α evenly spaced as in the official ACAI grid, brain-research/acai `lib/train.py`,
`make_sample_grid_and_save`), then the input b. The pairs are those the lines metrics score
(`metrics.lines.interpolation_pairs`: the first `pairs` of them), so the figure shows the paths behind the numbers.
Written to `<interpolation.dir>/interpolation.png` (`python -m lightning_ae.eval` sets the dir to its output
directory); with no dir the part writes nothing. Researchers look at interpolations, not only read numbers.
"""
from __future__ import annotations

from pathlib import Path

import torch

from lightning_ae.evaluation.splits import scored


def applies(model, datamodule) -> bool:
    return callable(getattr(model, "interpolate", None)) and callable(getattr(model, "encode", None))


def strips(model, a: torch.Tensor, b: torch.Tensor, steps: int, lo: float, hi: float) -> torch.Tensor:
    """[pairs·(steps + 2), C, H, W] in [0, 1]: per row a, the decoded path a → b (`model.interpolate`), b."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        paths = model.interpolate(a, b, steps=steps).float()
    model.train(was_training)
    rows = torch.cat([a[:, None].float(), paths, b[:, None].float()], dim=1)
    return ((rows.flatten(0, 1).cpu() - lo) / (hi - lo)).clamp(0, 1)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    from torchvision.utils import make_grid, save_image

    from lightning_ae.metrics.lines import interpolation_pairs

    settings = cfg.interpolation
    x, _ = scored(datamodule, cfg)
    if not settings.get("dir") or len(x) < 2:
        return {}
    a, b = interpolation_pairs(x, min(int(cfg.lines.pairs), len(x) // 2))  # the lines metrics' pairs
    pairs = min(int(settings.pairs), len(a))
    images = strips(model, a[:pairs].to(device), b[:pairs].to(device), int(settings.steps), *datamodule.value_range)
    out = Path(settings.dir)
    out.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(images, nrow=int(settings.steps) + 2, padding=2, pad_value=1.0), out / "interpolation.png")
    return {"interpolation/strips": float(pairs)}
