"""Convolutional encoder/decoder pair that adapts to any (C, H, W).

Encoder: per entry of `channels`, a stride-2 3×3 conv (sizes shrink as ⌈H/2⌉), then a linear layer to
`out_dim`. Decoder: a linear layer to the smallest feature map, then per level nearest upsampling to the
encoder's exact size at that level and a 3×3 conv, ending in a 3×3 conv to C channels. Odd sizes (28→14→7→4)
therefore round-trip exactly.
"""
from __future__ import annotations

from torch import nn

from .layers import activation


def _down(size: int, levels: int) -> list[int]:
    sizes = [size]
    for _ in range(levels):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class Conv:
    def __init__(self, channels: list[int] = (32, 64, 128), activation: str = "relu", batch_norm: bool = False):
        self.channels, self.act, self.bn = list(channels), activation, batch_norm

    def _block(self, conv: nn.Module, out_ch: int) -> list[nn.Module]:
        return [conv, *( [nn.BatchNorm2d(out_ch)] if self.bn else [] ), activation(self.act)]

    def encoder(self, shape, out_dim: int) -> nn.Module:
        c, h, w = shape
        layers: list[nn.Module] = []
        for out_ch in self.channels:
            layers += self._block(nn.Conv2d(c, out_ch, 3, stride=2, padding=1), out_ch)
            c = out_ch
        hs, ws = _down(h, len(self.channels)), _down(w, len(self.channels))
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * hs[-1] * ws[-1], out_dim))

    def decoder(self, in_dim: int, shape) -> nn.Module:
        c, h, w = shape
        hs, ws = _down(h, len(self.channels)), _down(w, len(self.channels))
        chans = self.channels[::-1]
        layers: list[nn.Module] = [nn.Linear(in_dim, chans[0] * hs[-1] * ws[-1]), activation(self.act),
                                   nn.Unflatten(1, (chans[0], hs[-1], ws[-1]))]
        for i, out_ch in enumerate(chans[1:] + [chans[-1]]):
            size = (hs[-2 - i], ws[-2 - i])
            layers += [nn.Upsample(size=size, mode="nearest")]
            layers += self._block(nn.Conv2d(chans[i], out_ch, 3, padding=1), out_ch)
        layers.append(nn.Conv2d(chans[-1], c, 3, padding=1))
        return nn.Sequential(*layers)
