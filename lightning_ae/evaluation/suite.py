"""The evaluation suite: every metric that applies to a model, decided from what the model can do.

A variant declares what it supports through its interface alone (duck typing), so a new variant needs no
evaluation code. The parts, the key prefix they write and what turns them on:

| part            | keys                                   | the model has ...                                |
|-----------------|----------------------------------------|--------------------------------------------------|
| reconstruction  | recon/{mse,sse,psnr,ssim}              | `reconstruct(x)` (every model)                   |
| PCA baseline    | baseline_pca/{mse,sse,psnr,ssim}       | `encode(x)`: as many components as code numbers  |
| representation  | probe/{linear_acc,kmeans_acc}          | `encode(x)` (flattened), and the data has labels |
| likelihood      | likelihood/{neg_elbo,nll_is}[_bpd]     | `log_weights(x, k) -> [k, B]` (VAE, CVAE, NVAE)  |
| sample quality  | fid/{classifier|inception}             | `can_sample = True` and `sample(n)`              |
| denoising       | denoise/{psnr,ssim}_{input,output}     | `corrupt(x)` (DAE: noise or inpainting masks)    |
| hashing         | hash/*, baseline_{pca_sign,lsh}/*      | `hash_codes(x) -> [B, bits]` in {0, 1}           |
| codebook        | vq/*                                   | `code_indices(x)` and `num_codes`                |
| interpolation   | lines/{mean_distance,smoothness}       | data is ACAI's lines (any model)                 |

Methods that also take the label (a `y` parameter, e.g. CVAE's) are given it. All metrics use the test
split (capped by `max_images`); fitted parts (probe, PCA, hashing database) use the training split.
Settings are in conf/evaluation/default.yaml (`fast.yaml` shrinks them for smoke runs).
"""
from __future__ import annotations

import logging
from importlib.resources import files

import torch
from omegaconf import DictConfig, OmegaConf

from lightning_ae.errors import UserError
from lightning_ae.evaluation.calls import batched, call_with_labels

log = logging.getLogger("lightning_ae")


def settings(name: str = "default", overrides: dict | DictConfig | None = None) -> DictConfig:
    """conf/evaluation/<name>.yaml (layered on default.yaml), with `overrides` merged on top."""
    def load(n):
        node = OmegaConf.create((files("lightning_ae.conf") / "evaluation" / f"{n}.yaml").read_text())
        node.pop("defaults", None)
        return node

    cfg = load("default") if name == "default" else OmegaConf.merge(load("default"), load(name))
    if overrides:
        cfg = OmegaConf.merge(cfg, overrides)
    return cfg


def _optional(module: str, *names: str):
    """A metrics module (with `names`) that this version may lack: the module, or None (logged once)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if not module.startswith(e.name or "\0"):  # the module exists but one of its own imports failed
            raise
        mod = None
    if mod is None or not all(hasattr(mod, n) for n in names):
        if module not in _MISSING:
            log.warning("%s is not available in this version; its metrics are skipped", module)
            _MISSING.add(module)
        return None
    return mod


_MISSING: set[str] = set()


def _cap(t: torch.Tensor, n) -> torch.Tensor:
    return t if n is None else t[: int(n)]


def _labelled(y: torch.Tensor, num_classes: int) -> bool:
    return num_classes >= 2 and len(y) > 0 and bool((y >= 0).all())


def _prefixed(prefix: str, result) -> dict[str, float]:
    """A part's result (a dict, or a (perplexity, dead share) pair) as prefixed float metrics."""
    if isinstance(result, dict):
        return {f"{prefix}/{k}": float(v) for k, v in result.items()}
    if isinstance(result, (tuple, list)) and prefix == "vq":
        return {"vq/perplexity": float(result[0]), "vq/dead_share": float(result[1])}
    return {prefix: float(result)}


def evaluate(model, datamodule, cfg: DictConfig | dict | None = None, device=None) -> dict[str, float]:
    """Every applicable metric of `model` on `datamodule`'s test split: {"<part>/<metric>": float}."""
    cfg = settings(overrides=cfg) if not isinstance(cfg, DictConfig) or "parts" not in cfg else cfg
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(device).eval()
    torch.manual_seed(int(cfg.seed))
    parts = cfg.parts
    vr = datamodule.value_range
    bs = int(cfg.batch_size)
    x, y = datamodule.tensors(cfg.split)
    x, y = _cap(x, cfg.max_images), _cap(y, cfg.max_images)
    train_x, train_y = datamodule.tensors("train")
    labelled = _labelled(y, datamodule.num_classes) and _labelled(train_y, datamodule.num_classes)
    yy = y if labelled else None
    out: dict[str, float] = {}
    from lightning_ae.evaluation import reconstruction as rec

    with torch.no_grad():
        if parts.reconstruction:
            out |= _prefixed("recon", rec.reconstruction_metrics(model.reconstruct, x, vr, bs, device, y=yy))
        if parts.pca_baseline or parts.representation:
            z = batched(model.encode, x, yy, bs, device).flatten(1)
        if parts.pca_baseline:
            fit_x = _cap(torch.cat([train_x, datamodule.tensors("val")[0]]), cfg.pca_max_train)
            out |= _prefixed("baseline_pca", rec.pca_baseline(fit_x, x, z.shape[1], vr))
        if parts.representation and labelled:
            out |= representation(model, z, y, train_x, train_y, datamodule.num_classes, cfg, device)
        if parts.likelihood and callable(getattr(model, "log_weights", None)):
            from lightning_ae.evaluation.likelihood import likelihood_metrics

            xl, yl = _cap(x, cfg.likelihood_max_images), None if yy is None else _cap(yy, cfg.likelihood_max_images)
            out |= _prefixed("likelihood", likelihood_metrics(model.log_weights, xl, yl, int(cfg.is_samples),
                                                              int(cfg.is_chunk), bs, device))
        if parts.denoising and callable(getattr(model, "corrupt", None)):
            out |= _prefixed("denoise", rec.denoising_metrics(model.corrupt, model.reconstruct, x, vr, bs, device))
        hashes = _optional("lightning_ae.hashing", "retrieval_metrics", "pca_sign_codes", "lsh_codes")
        if parts.hashing and callable(getattr(model, "hash_codes", None)) and labelled and hashes:
            out |= hashing(model, x, y, train_x, train_y, cfg, device)
        if parts.codebook and callable(getattr(model, "code_indices", None)) and hasattr(model, "num_codes"):
            if codebook := _optional("lightning_ae.metrics.codebook"):
                idx = batched(model.code_indices, x, yy, bs, device).long()
                out |= _prefixed("vq", codebook.codebook_usage(idx, int(model.num_codes)))
        lines = parts.lines and getattr(datamodule, "name", "") == "lines" and _optional("lightning_ae.metrics.lines")
        if lines and len(x) >= 2:
            pairs = min(int(cfg.lines.pairs), len(x) // 2)
            paths = lines.interpolation_paths(model, x.to(device), pairs=pairs, steps=int(cfg.lines.steps))
            out |= _prefixed("lines", lines.lines_metrics(paths))
    if parts.fid and getattr(model, "can_sample", False):
        out |= sample_quality(model, x, datamodule, labelled, cfg, device)
    return out


def representation(model, z_test, y_test, train_x, train_y, num_classes, cfg, device) -> dict[str, float]:
    from lightning_ae.evaluation.representation import kmeans_accuracy, linear_probe_accuracy

    px, py = _cap(train_x, cfg.probe.max_train), _cap(train_y, cfg.probe.max_train)
    z_train = batched(model.encode, px, py, int(cfg.batch_size), device).flatten(1)
    return {
        "probe/linear_acc": linear_probe_accuracy(z_train, py, z_test, y_test, int(cfg.probe.max_iter), int(cfg.seed)),
        "probe/kmeans_acc": kmeans_accuracy(z_test, y_test, num_classes, int(cfg.seed), int(cfg.probe.kmeans_init)),
    }


def hashing(model, x, y, train_x, train_y, cfg, device) -> dict[str, float]:
    """Retrieval of test queries from the training database by Hamming distance (the model's bits), and the
    same for PCA-sign and LSH (random hyperplane) codes with as many bits, fitted on the database."""
    from lightning_ae.hashing import lsh_codes, pca_sign_codes, retrieval_metrics

    dbx, dby = _cap(train_x, cfg.hashing.max_db), _cap(train_y, cfg.hashing.max_db)
    bs = int(cfg.batch_size)
    q_bits, db_bits = batched(model.hash_codes, x, y, bs, device), batched(model.hash_codes, dbx, dby, bs, device)
    kw = {"radius": int(cfg.hashing.radius), "k": int(cfg.hashing.k)}
    out = _prefixed("hash", retrieval_metrics(q_bits.bool(), y, db_bits.bool(), dby, **kw))
    bits = q_bits.shape[1]
    for name, codes in (("baseline_pca_sign", pca_sign_codes), ("baseline_lsh", lsh_codes)):
        try:
            base_q, base_db = codes(dbx, x, bits), codes(dbx, dbx, bits)
        except UserError as e:  # e.g. fewer database images than bits: no baseline row, the model's stays
            log.warning("%s skipped: %s", name, e)
            continue
        out |= _prefixed(name, retrieval_metrics(base_q, y, base_db, dby, **kw))
    return out | {"hash/bits": float(bits)}


def sample_quality(model, x, datamodule, labelled, cfg, device) -> dict[str, float]:
    from lightning_ae.evaluation.fid import fid_score, inception_available

    f = cfg.fid
    if not labelled and f.extractor != "inception" and not inception_available(f.inception_weights):
        log.info("FID skipped: %s has no labels for the feature classifier and no Inception weights are set",
                 getattr(datamodule, "name", "data"))
        return {}
    sample = lambda n: call_with_labels(model.sample, n, None).float()  # noqa: E731
    with torch.no_grad():
        return fid_score(sample, x, datamodule.value_range, datamodule, f.extractor, f.inception_weights,
                         int(f.num_samples), int(cfg.batch_size), cfg.cache_dir, int(f.classifier_epochs), device)
