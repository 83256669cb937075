"""likelihood/*: negative ELBO and IS-NLL with `is_samples` importance samples (models with `log_weights`),
on the first `likelihood_max_images` scored images, in the units the observation model allows
(`lightning_ae.metrics.likelihood`):

- nats (Bernoulli on binarised data, NVAE's discretised mixture): neg_elbo, nll_is and their `_bpd`;
- cross-entropy (Bernoulli on grey-level pixels): neg_elbo_ce, nll_is_ce only;
- density (Gaussian): neg_elbo, nll_is in nats of the continuous density, no bits/dim.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from lightning_ae.errors import UserError
from lightning_ae.evaluation.calls import batches, call_with_labels
from lightning_ae.evaluation.capabilities import HasLogWeights
from lightning_ae.evaluation.splits import scored
from lightning_ae.metrics.likelihood import bits_per_dim, importance_estimates, likelihood_units

log = logging.getLogger("lightning_ae")


def applies(model, datamodule) -> bool:
    return isinstance(model, HasLogWeights)


def observation(model) -> str:
    """The kind of p(x|z): NVAE's own observation model where it has one, else the model's likelihood."""
    return getattr(model, "obs", model.likelihood).kind


def log_weights(fn: Callable, x: torch.Tensor, y: torch.Tensor | None, k: int, chunk: int) -> torch.Tensor:
    """K log-weights [K, B] for one batch, drawn `chunk` at a time to bound memory."""
    parts = [call_with_labels(fn, x, y, k=min(chunk, k - i)).float() for i in range(0, k, chunk)]
    return torch.cat(parts, 0)


@torch.no_grad()
def likelihood_metrics(fn: Callable, x: torch.Tensor, y: torch.Tensor | None = None, k: int = 100, chunk: int = 50,
                       batch_size: int = 500, device: str | torch.device = "cpu") -> dict[str, float]:
    """Means over the images of x of the negative ELBO and the IS-NLL from `fn = model.log_weights`, in the
    log-weights' units (what those are: `compute`)."""
    if k < 1 or chunk < 1:
        raise UserError(f"evaluation.is_samples and is_chunk must be at least 1, got {k} and {chunk}")
    elbo = nll = 0.0
    for xb, yb in batches(x, y, batch_size, device):
        neg_elbo, nll_is = importance_estimates(log_weights(fn, xb, yb, k, chunk))
        elbo, nll = elbo + float(neg_elbo.sum()), nll + float(nll_is.sum())
    return {"neg_elbo": elbo / len(x), "nll_is": nll / len(x)}


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg, cfg.likelihood_max_images)
    k = int(cfg.is_samples)
    m = likelihood_metrics(model.log_weights, x, y, k, int(cfg.is_chunk), int(cfg.batch_size), device)
    elbo, nll = m["neg_elbo"], m["nll_is"]
    units = likelihood_units(observation(model), getattr(datamodule, "binarize", None) is not None)
    out = {"likelihood/is_samples": float(k)}
    if units == "cross_entropy":
        log.info("likelihood: a Bernoulli on grey-level pixels is a cross-entropy, not a likelihood; reported as "
                 "likelihood/*_ce, no nats or bits/dim (data.binarize=dynamic gives the binarised-MNIST protocol)")
        return out | {"likelihood/neg_elbo_ce": elbo, "likelihood/nll_is_ce": nll}
    out |= {"likelihood/neg_elbo": elbo, "likelihood/nll_is": nll}
    if units == "nats":
        dims = x[0].numel()
        out |= {"likelihood/neg_elbo_bpd": bits_per_dim(elbo, dims), "likelihood/nll_is_bpd": bits_per_dim(nll, dims)}
    return out
