"""Comparison figures of issue #12's rows, each drawn from checkpoints (`figures.py` calls them):

- `interpolation_grid`: ACAI's and the plain AE's latent interpolations on the lines test set, the two models'
  paths for the same pair one above the other (Berthelot et al. 2019, fig. 3 style), ends included;
- `sample_grid`: prior samples of several models side by side (VAE-GAN, ALAE, the VAE baseline).

Images are mapped from the data's value range to [0, 1] (white line on black for lines).
"""
from __future__ import annotations

from pathlib import Path

import torch

INCH = 0.4  # figure inches per image cell


def _load(ckpt):
    from lightning_ae.building import load_model

    return load_model(ckpt)


def _unit(images: torch.Tensor, value_range) -> torch.Tensor:
    lo, hi = (float(v) for v in value_range)
    return ((images.float() - lo) / (hi - lo)).clamp(0, 1)


def _label(model) -> str:
    return model.run_config.get("task_name") or type(model).__name__


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _figure(rows: int, cols: int, cell_rows: int, cell_cols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell_cols * INCH + 1, rows * cell_rows * INCH + 0.5),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


@torch.no_grad()
def interpolation_grid(ckpt_a, ckpt_b, path, pairs: int = 8, steps: int = 16) -> Path:
    """For `pairs` test pairs of model A's data (the lines metric's pairs, `interpolation_pairs` seed 0): A's path
    (`steps` images from α = 0 to 1) with B's path for the same pair below it, each row labelled by its model's
    task name."""
    import hydra
    from torchvision.utils import make_grid

    from lightning_ae.metrics.lines import interpolation_paths

    models = [_load(ckpt_a), _load(ckpt_b)]
    dm = hydra.utils.instantiate(models[0].run_config["data"])
    x = dm.tensors("test")[0]
    paths = [_unit(interpolation_paths(m, x, pairs=pairs, steps=steps), dm.value_range) for m in models]
    fig, axes = _figure(2 * pairs, 1, 1, steps)
    for i in range(pairs):
        for j, (model, p) in enumerate(zip(models, paths)):
            ax = axes[2 * i + j, 0]
            ax.imshow(make_grid(p[i], nrow=steps, padding=1, pad_value=0.5).permute(1, 2, 0).numpy())
            ax.set_ylabel(f"{_label(model)} #{i}", rotation=0, ha="right", va="center", fontsize=7)
    return _save(fig, path)


@torch.no_grad()
def sample_grid(ckpts: dict[str, str | Path], path, n: int = 64) -> Path:
    """`n` prior samples (seed 0) of each labelled checkpoint, side by side in square grids."""
    from torchvision.utils import make_grid

    side = max(1, round(n**0.5))
    fig, axes = _figure(1, len(ckpts), side, side)
    for ax, (label, ckpt) in zip(axes[0], ckpts.items()):
        model = _load(ckpt)
        torch.manual_seed(0)
        images = _unit(model.sample(n), model.run_config["data"]["value_range"])
        ax.imshow(make_grid(images, nrow=side, padding=1, pad_value=1.0).permute(1, 2, 0).numpy())
        ax.set_title(label, fontsize=9)
    return _save(fig, path)
