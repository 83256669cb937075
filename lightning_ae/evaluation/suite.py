"""The evaluation suite: every part that applies to a model, in the order of `cfg.parts`.

Each part is one module `lightning_ae/evaluation/parts/<name>.py` with `applies(model, datamodule)` and
`compute(model, datamodule, cfg, device)`; the metric formulas they apply live in `lightning_ae/metrics/`.
A model switches a part on by what it can do (`evaluation/capabilities.py`), so a new variant needs no
evaluation code. **A new metric is one file plus one config line**: write `parts/<name>.py` and add
`<name>: true` under `parts` in conf/evaluation/default.yaml.

| part            | keys                                   | the model has ...                                |
|-----------------|----------------------------------------|--------------------------------------------------|
| reconstruction  | recon/{mse,sse,psnr,ssim,nmse}         | `reconstruct(x)` (every model)                   |
| pca_baseline    | baseline_pca/{mse,sse,psnr,ssim,nmse}; baseline_pca_rate/* | `encode(x)`: as many components as code numbers; with `code_indices`, 8-bit coefficients in the code's bits |
| representation  | probe/{linear_acc,kmeans_acc}          | `encode(x)` (flattened), and the data has labels |
| likelihood      | likelihood/{neg_elbo,nll_is}[_bpd|_ce] | `log_weights(x, k) -> [k, B]` (VAE, CVAE, NVAE)  |
| fid             | fid/{classifier|inception}             | `can_sample = True` and `sample(n)`              |
| marginal_fid    | fid_marginal/*                         | `sample_indices`, `code_indices`, `decode_indices` (a code prior) |
| conditional     | cond/{accuracy,min_class_accuracy,...} | `sample(n, y)` (CVAE), and the data has labels   |
| denoising       | denoise/{psnr,ssim}_{input,output,filter}, filter, psnr_masked_* | `corrupt(x)` (DAE) |
| hashing         | hash/*, baseline_{pca_sign,lsh}/*      | `hash_codes(x) -> [B, bits]`, and labelled data  |
| codebook        | vq/*                                   | `code_indices(x)` and `num_codes`                |
| lines           | lines/{mean_distance,smoothness,end_angle_error_deg} | data is ACAI's lines (any model) |

All metrics use the `split` split (capped by `max_images`); fitted parts (probe, PCA, hashing database) use
the training split. Each part logs its wall time. Settings: conf/evaluation/default.yaml; `fast.yaml`
shrinks them for smoke runs. After training (`python -m lightning_ae`), a run shorter than
`after_training.full_from_epochs` skips the `after_training.costly` parts (`after_training`);
`python -m lightning_ae.eval` always runs every part.
"""
from __future__ import annotations

import importlib
import logging
import time
from importlib.resources import files

import torch
from omegaconf import DictConfig, OmegaConf

from lightning_ae.errors import UserError

log = logging.getLogger("lightning_ae")


def preset(name: str) -> DictConfig:
    """The keys conf/evaluation/<name>.yaml sets itself (its defaults list dropped)."""
    node = OmegaConf.create((files("lightning_ae.conf") / "evaluation" / f"{name}.yaml").read_text())
    node.pop("defaults", None)
    return node


def settings(name: str = "default", overrides: dict | DictConfig | None = None) -> DictConfig:
    """conf/evaluation/<name>.yaml layered on default.yaml, `overrides` on top: the evaluation config outside
    a Hydra app (tests, notebooks); the entry points compose it with Hydra."""
    layers = [preset("default")] + ([preset(name)] if name != "default" else [])
    return OmegaConf.merge(*layers, overrides or {})


def part(name: str):
    """The part module `lightning_ae.evaluation.parts.<name>`; an unknown name is one line."""
    try:
        return importlib.import_module(f"lightning_ae.evaluation.parts.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"lightning_ae.evaluation.parts.{name}":
            raise
        known = sorted(p.name[:-3] for p in files("lightning_ae.evaluation.parts").iterdir()
                       if p.name.endswith(".py") and not p.name.startswith("_"))
        raise UserError(f"evaluation.parts.{name}: no such evaluation part; known parts: {', '.join(known)}") from None


def after_training(cfg: DictConfig, epochs: int, ckpt_path: str) -> DictConfig:
    """The settings for the evaluation that follows training: a run of fewer than
    `after_training.full_from_epochs` epochs skips the `after_training.costly` parts, with one line saying so."""
    short = cfg.after_training
    skipped = [p for p in short.costly if cfg.parts.get(p)] if epochs < int(short.full_from_epochs) else []
    if not skipped:
        return cfg
    log.info("evaluation: skipped %s after a %d-epoch run (fewer than evaluation.after_training.full_from_epochs="
             "%d); run every part with: python -m lightning_ae.eval ckpt_path=%s", ", ".join(skipped), epochs,
             int(short.full_from_epochs), ckpt_path or "<checkpoint>")
    return OmegaConf.merge(cfg, {"parts": {p: False for p in skipped}})


def evaluate(model, datamodule, cfg: DictConfig | dict | None = None, device=None) -> dict[str, float]:
    """Every applicable part of `model` on `datamodule`'s scored split: {"<prefix>/<metric>": float}."""
    cfg = settings(overrides=cfg) if not isinstance(cfg, DictConfig) or "parts" not in cfg else cfg
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(device).eval()
    torch.manual_seed(int(cfg.seed))
    chosen = [(name, part(name)) for name, on in cfg.parts.items() if on]  # every name checked before any runs
    out: dict[str, float] = {}
    for name, module in chosen:
        if not module.applies(model, datamodule):
            continue
        start = time.perf_counter()
        with torch.no_grad():
            out |= module.compute(model, datamodule, cfg, device)
        log.info("evaluation: %s took %.1f s", name, time.perf_counter() - start)
    return out
