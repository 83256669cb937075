"""The figures of a reproduction row (benchmarks/figures/<row>_*.png), drawn with matplotlib and torchvision:

- `<row>_curve.png`: the row's validation metric against minutes of fit, the baselines as horizontal lines and
  the final test headline as a point;
- `<row>_reconstructions.png`: test images above their reconstructions (for denoising models: clean, corrupted,
  restored);
- `<row>_samples.png`: 64 prior samples, where the model can sample.
"""
from __future__ import annotations

from pathlib import Path

import torch


def draw(row, result: dict, results: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if result.get("curve"):
        written.append(curve(row, result, results, folder / f"{row.name}_curve.png"))
    if result.get("ckpt") and Path(result["ckpt"]).is_file():
        written += images(row.name, Path(result["ckpt"]), folder)
        written += comparisons(row, result, results, folder)
    return written


def comparisons(row, result: dict, results: dict, folder: Path) -> list[Path]:
    """The figures a comparison row adds: its samples beside other rows', its lines paths above another row's."""
    from benchmarks.compare import interpolation_grid, sample_grid

    def ckpt(name):
        path = (results.get(name) or {}).get("ckpt")
        return path if path and Path(path).is_file() else None

    out = []
    others = {label: ckpt(name) for label, name in row.compare_samples.items()}
    if others and all(others.values()):
        out.append(folder / f"{row.name}_samples_vs.png")
        sample_grid({row.name: result["ckpt"], **others}, out[-1])
    if row.compare_paths and ckpt(row.compare_paths):
        out.append(folder / f"{row.name}_interpolations_vs_{row.compare_paths}.png")
        interpolation_grid(result["ckpt"], ckpt(row.compare_paths), out[-1])
    return out


def curve(row, result: dict, results: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from benchmarks.report import resolve

    key, label = row.curve
    pts = [p for p in result["curve"] if key in p]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([p["seconds"] / 60 for p in pts], [p[key] for p in pts], marker=".", label=label)
    m = result.get("metrics") or {}
    # baselines and the final headline in the headline's units: on the curve's axis where it is in those units,
    # else on a right-hand axis of their own (FID beside a validation loss would otherwise share a scale).
    # Baselines that are other metrics altogether (ae_lines) stay in the table: `Row.curve_baselines=False`.
    right = ax if row.curve_in_headline_units else ax.twinx()
    for i, (name, ref) in enumerate(row.baselines.items() if row.curve_baselines else ()):
        value = resolve(ref, m, results)
        if value is not None:
            right.axhline(value, ls="--", color=f"C{i + 1}", label=f"{name}: {value:.4g}")
    final = m.get(row.headline[0])
    if final is not None and pts:
        right.plot([pts[-1]["seconds"] / 60], [final], "k*", ms=10, label=f"{row.headline[1]}: {final:.4g}")
    ax.set_xlabel("minutes of fit (validation included)")
    ax.set_ylabel(label)
    if right is not ax:
        right.set_ylabel(f"{row.headline[1]} (right axis)", fontsize=8)
    ax.set_title(f"{row.name}: {result.get('machine', '')}, {result.get('date', '')}", fontsize=9)
    ax.grid(alpha=0.3)
    handles = [h for a in dict.fromkeys([ax, right]) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@torch.no_grad()
def images(name: str, ckpt: Path, folder: Path, n: int = 16) -> list[Path]:
    import hydra
    from torchvision.utils import save_image

    from lightning_ae.building import load_model

    model = load_model(ckpt)
    dm = hydra.utils.instantiate(model.run_config["data"])
    x = dm.tensors("test")[0][:n]
    lo, hi = dm.value_range
    unit = lambda t: ((t.float() - lo) / (hi - lo)).clamp(0, 1)  # noqa: E731
    rows = [x]
    if hasattr(model, "corrupt_with_mask"):  # denoising / inpainting: clean, corrupted, restored
        torch.manual_seed(0)
        corrupted, mask = model.corrupt_with_mask(x)
        restored = model.reconstruct(corrupted)
        rows += [corrupted, restored if mask is None else torch.where(mask, restored, corrupted)]
    else:
        rows.append(model.reconstruct(x) if "y" not in model.reconstruct.__code__.co_varnames
                    else model.reconstruct(x, None))
    groups = zip(*(unit(r).split(8) for r in rows))  # per 8 images: the input row, then what became of it
    out = [folder / f"{name}_reconstructions.png"]
    save_image(torch.cat([torch.cat(g) for g in groups]), out[0], nrow=8, padding=2, pad_value=1.0)
    if getattr(model, "can_sample", False):
        torch.manual_seed(0)
        out.append(folder / f"{name}_samples.png")
        save_image(unit(model.sample(64)), out[1], nrow=8, padding=2, pad_value=1.0)
    return out
