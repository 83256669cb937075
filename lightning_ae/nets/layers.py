"""Small building blocks shared by the net specs."""
from __future__ import annotations

from torch import nn

_ACTIVATIONS = {
    "relu": lambda inplace: nn.ReLU(inplace=inplace),
    "leaky_relu": lambda inplace: nn.LeakyReLU(0.2, inplace=inplace),
    "elu": lambda inplace: nn.ELU(inplace=inplace),
    "silu": lambda inplace: nn.SiLU(inplace=inplace),
    "sigmoid": lambda inplace: nn.Sigmoid(),
    "tanh": lambda inplace: nn.Tanh(),
}


def activation(name: str, inplace: bool = True) -> nn.Module:
    """The named activation; `inplace=False` where its input is still needed (a residual block's skip path)."""
    try:
        return _ACTIVATIONS[name](inplace)
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}") from None
