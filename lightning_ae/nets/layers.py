"""Small building blocks shared by the net specs."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {
    "relu": lambda inplace: nn.ReLU(inplace=inplace),
    "leaky_relu": lambda inplace: nn.LeakyReLU(0.2, inplace=inplace),
    "elu": lambda inplace: nn.ELU(inplace=inplace),
    "silu": lambda inplace: nn.SiLU(inplace=inplace),
    "sigmoid": lambda inplace: nn.Sigmoid(),
    "tanh": lambda inplace: nn.Tanh(),
}


#: the module types `activation` builds (to find a network's activation layers)
ACTIVATION_TYPES = tuple({type(make(False)) for make in _ACTIVATIONS.values()})


def activation(name: str, inplace: bool = True) -> nn.Module:
    """The named activation; `inplace=False` where its input is still needed (a residual block's skip path)."""
    try:
        return _ACTIVATIONS[name](inplace)
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}") from None


class Pad(nn.Module):
    """Pad (H, W) evenly on both sides up to `padded` (the odd pixel goes right/bottom); identity when they
    match. `mode` as in `F.pad`: "replicate", or "constant" with `value` (e.g. the data's background)."""

    def __init__(self, size, padded, mode: str = "replicate", value: float = 0.0):
        super().__init__()
        (h, w), (ph, pw) = size, padded
        self.amount = ((pw - w) // 2, pw - w - (pw - w) // 2, (ph - h) // 2, ph - h - (ph - h) // 2)
        self.mode, self.value = mode, float(value)

    def forward(self, x):
        if not any(self.amount):
            return x
        if self.mode == "constant":
            return F.pad(x, self.amount, value=self.value)
        return F.pad(x, self.amount, mode=self.mode)


class Crop(nn.Module):
    """The inverse of `Pad`: cut the centre (H, W) out of a `padded` map."""

    def __init__(self, padded, size):
        super().__init__()
        (ph, pw), (self.h, self.w) = padded, size
        self.top, self.left = (ph - self.h) // 2, (pw - self.w) // 2

    def forward(self, x):
        return x[..., self.top : self.top + self.h, self.left : self.left + self.w]
