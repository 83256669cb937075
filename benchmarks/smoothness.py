"""Why the lines smoothness rises as an AE trains (issue 22; the finding is in lightning_ae/metrics/lines.py).

Trains `experiment=ae_lines` (the CPU variant, an MLP) epoch by epoch and, after each of `--epochs`, scores 256
validation pairs twice: the model's latent paths, and a pixel cross-fade between the same decoded path ends. Per
path: undefined paths, the share at the one-jump value 1 − 1/15 (≥ 0.9), below 0.5 (gradual) and above 1.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/smoothness.py --epochs 1 4
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import compose  # noqa: E402


def per_path(paths: torch.Tensor) -> np.ndarray:
    """Each path's smoothness score (NaN where undefined), as `lines_metrics` averages them."""
    from lightning_ae.metrics.lines import UNDEFINED_SPAN, nearest_lines

    p, n = paths.shape[:2]
    theta = np.unwrap(nearest_lines(paths.flatten(0, 1))[1].view(p, n).numpy(), axis=1)
    span, step = np.abs(theta[:, -1] - theta[:, 0]), np.abs(np.diff(theta, axis=1)).max(1)
    return np.where(span >= UNDEFINED_SPAN, step / np.maximum(span, 1e-12) - 1 / (n - 1), np.nan)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 4], help="score after these epochs")
    args = p.parse_args(argv)

    import hydra
    import pytorch_lightning as pl

    from lightning_ae.metrics.lines import interpolation_paths, lines_metrics

    torch.set_num_threads(1)
    pl.seed_everything(0)
    cfg = compose(["experiment=ae_lines"])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    x_val = datamodule.tensors("val")[0]
    model = hydra.utils.instantiate(cfg.model)
    rows = []
    for epochs in sorted(args.epochs):
        pl.Trainer(accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                   num_sanity_val_steps=0).fit(model, datamodule=datamodule)
        paths = interpolation_paths(model, x_val, pairs=256, steps=16)
        t = torch.linspace(0, 1, 16).view(1, 16, 1, 1, 1)
        for name, p_ in (("model", paths), ("cross-fade of its ends", (1 - t) * paths[:, :1] + t * paths[:, -1:])):
            m, score = lines_metrics(p_), per_path(p_)
            defined = score[~np.isnan(score)]
            row = {"epochs": epochs, "paths": name, "mean_distance_e3": round(1e3 * m["mean_distance"], 2),
                   "smoothness": round(m["smoothness"], 3), "undefined": int(np.isnan(score).sum()),
                   "at_jump": round(float((defined >= 0.9).mean()), 2),
                   "below_0.5": round(float((defined < 0.5).mean()), 2), "above_1": round(float((defined > 1).mean()), 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
