"""Calling model methods the same way whatever the variant: labels where a method asks for them, batches."""
from __future__ import annotations

import inspect
from typing import Callable, Iterator

import torch


def takes_labels(fn: Callable) -> bool:
    """Whether a model method has a `y` parameter (conditional models: CVAE's encode, log_weights ...)."""
    try:
        return "y" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def call_with_labels(fn: Callable, x: torch.Tensor, y: torch.Tensor | None, **kwargs):
    if y is not None and takes_labels(fn):
        return fn(x, y=y, **kwargs)
    return fn(x, **kwargs)


def batches(x: torch.Tensor, y: torch.Tensor | None, batch_size: int,
            device: str | torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(images, labels or None) batch by batch, on `device`."""
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size].to(device), None if y is None else y[i : i + batch_size].to(device)


@torch.no_grad()
def batched(fn: Callable, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 500,
            device: str | torch.device = "cpu") -> torch.Tensor:
    """fn over x in batches on `device` (labels passed where fn takes them); results concatenated on the CPU."""
    out = []
    for xb, yb in batches(x, y, batch_size, device):
        t = call_with_labels(fn, xb, yb).detach().cpu()
        out.append(t.float() if t.is_floating_point() else t)  # bf16 → float32; bits and indices keep their dtype
    return torch.cat(out)
