"""Fully connected encoder/decoder pair for images of any shape."""
from __future__ import annotations

import math

from torch import nn

from .layers import activation


class MLP:
    """Encoder: flatten → hidden layers → out_dim. Decoder: in_dim → reversed hidden layers → image."""

    def __init__(self, hidden: list[int] = (512, 256), activation: str = "relu"):
        self.hidden, self.act = list(hidden), activation

    def _stack(self, sizes: list[int]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers += [nn.Linear(a, b), activation(self.act)]
        return layers + [nn.Linear(sizes[-2], sizes[-1])]

    def encoder(self, shape, out_dim: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), *self._stack([math.prod(shape), *self.hidden, out_dim]))

    def decoder(self, in_dim: int, shape) -> nn.Module:
        return nn.Sequential(*self._stack([in_dim, *self.hidden[::-1], math.prod(shape)]), nn.Unflatten(1, tuple(shape)))
