"""How often class-conditional samples are what they were asked to be (Sohn et al. 2015's CVAE claim): each
sample of asked class c is classified by a fixed classifier; the accuracy is the share assigned to c."""
from __future__ import annotations

import torch


def conditional_accuracy(predicted: torch.Tensor, asked: torch.Tensor, num_classes: int) -> dict[str, float]:
    """accuracy: the share of all samples predicted as their asked class; min_class_accuracy: that share
    within the worst class (among the classes asked for)."""
    right = (predicted.long() == asked.long()).double()
    per_class = [right[asked == c].mean() for c in range(num_classes) if bool((asked == c).any())]
    return {"accuracy": float(right.mean()), "min_class_accuracy": float(torch.stack(per_class).min())}
