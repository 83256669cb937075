"""Fully connected networks: the `mlp` builder, and the encoder/decoder pair for images of any shape."""
from __future__ import annotations

import math

from torch import nn

from .layers import activation


def mlp(sizes: list[int], act: str) -> nn.Sequential:
    """Linear layers through `sizes` with the activation `act` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation(act))
    return nn.Sequential(*layers)


class MLP:
    """Encoder: flatten → hidden layers → out_dim. Decoder: in_dim → reversed hidden layers → image."""

    def __init__(self, hidden: list[int] = (512, 256), activation: str = "relu"):
        self.hidden, self.act = list(hidden), activation

    def encoder(self, shape, out_dim: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), *mlp([math.prod(shape), *self.hidden, out_dim], self.act))

    def decoder(self, in_dim: int, shape) -> nn.Module:
        return nn.Sequential(*mlp([in_dim, *self.hidden[::-1], math.prod(shape)], self.act),
                             nn.Unflatten(1, tuple(shape)))
