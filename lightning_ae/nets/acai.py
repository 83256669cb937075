"""ACAI's convolutional encoder/decoder (Berthelot, Raffel, Roy & Goodfellow, ICLR 2019, §3 and appendix).

Encoder: 1×1 conv to `depth` channels; per scale two 3×3 convs (leaky ReLU 0.2) with depth·2^scale channels
and 2×2 average pooling; then a 3×3 conv (no activation) to the latent channels on a small grid. Decoder:
the mirror, with nearest-neighbour ×2 upsampling, ending in a 3×3 conv to the image channels. The critic is
the encoder architecture with its output averaged to one number per image (the ACAI model builds it).

The number of scales follows the image: enough halvings to bring the smaller side down to `latent_size`
(8×8 → 1 scale, 28×28 → 3, 32×32 → 3; lines use latent_size 2 → 4). Images whose side the scales cannot
divide are padded (replicate) to the next multiple of 2^scales and cropped back in the decoder, as the paper
pads MNIST to 32×32; with `pad: false` such a size is a UserError.

As a net spec (`model/net=acai`) the latent grid is flattened: `encoder(shape, out_dim)` gives [B, out_dim].
When out_dim is a multiple of the grid area the grid simply has out_dim/area channels (the paper's latent);
otherwise a linear layer maps the flattened grid to out_dim (and back in the decoder).
"""
from __future__ import annotations

import math

from torch import nn

from lightning_ae.errors import UserError

from .layers import Crop, Pad, activation


class ACAINet:
    def __init__(self, depth: int = 16, latent_size: int = 4, scales: int | None = None, pad: bool = True,
                 activation: str = "leaky_relu"):
        if depth <= 0 or latent_size <= 0:
            raise UserError(f"model.net.depth and model.net.latent_size must be positive, got {depth}, {latent_size}")
        if scales is not None and scales < 0:
            raise UserError(f"model.net.scales must be null (from the image size) or >= 0, got {scales}")
        self.depth, self.latent_size, self.scales, self.pad, self.act = depth, latent_size, scales, pad, activation

    def layout(self, shape) -> tuple[int, tuple[int, int], tuple[int, int]]:
        """(scales, padded (H, W), latent grid (h, w)) for an image shape (C, H, W)."""
        _, h, w = (int(s) for s in shape)
        scales = self.scales
        if scales is None:
            scales = max(0, math.ceil(math.log2(min(h, w) / self.latent_size) - 1e-9))
        k = 2**scales
        if (h % k or w % k) and not self.pad:
            raise UserError(f"image size {h}x{w} is not divisible by 2^scales = {k} (model.net.scales={scales}); "
                            "set model.net.pad=true or choose model.net.scales so that 2^scales divides it")
        ph, pw = math.ceil(h / k) * k, math.ceil(w / k) * k
        return scales, (ph, pw), (ph // k, pw // k)

    def _convs(self, c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), activation(self.act),
                nn.Conv2d(c_out, c_out, 3, padding=1), activation(self.act)]

    def spatial_encoder(self, shape, latent_channels: int) -> nn.Module:
        """[B, C, H, W] → latent grid [B, latent_channels, h, w] (the paper's encoder; also the critic body)."""
        shape = tuple(int(s) for s in shape)
        scales, padded, _ = self.layout(shape)
        layers: list[nn.Module] = [Pad(shape[1:], padded), nn.Conv2d(shape[0], self.depth, 1)]
        c = self.depth
        for s in range(scales):
            layers += self._convs(c, self.depth << s) + [nn.AvgPool2d(2)]
            c = self.depth << s
        return nn.Sequential(*layers, nn.Conv2d(c, latent_channels, 3, padding=1))

    def spatial_decoder(self, latent_channels: int, shape) -> nn.Module:
        """Latent grid [B, latent_channels, h, w] → [B, C, H, W] (decoder output, before the likelihood)."""
        shape = tuple(int(s) for s in shape)
        scales, padded, _ = self.layout(shape)
        layers: list[nn.Module] = []
        c = latent_channels
        for s in reversed(range(scales)):
            layers += self._convs(c, self.depth << s) + [nn.Upsample(scale_factor=2, mode="nearest")]
            c = self.depth << s
        return nn.Sequential(*layers, nn.Conv2d(c, shape[0], 3, padding=1), Crop(padded, shape[1:]))

    def _grid(self, shape, dim: int) -> tuple[int, tuple[int, int], bool]:
        _, _, (gh, gw) = self.layout(shape)
        channels = math.ceil(dim / (gh * gw))
        return channels, (gh, gw), channels * gh * gw != dim

    def encoder(self, shape, out_dim: int) -> nn.Module:
        channels, (gh, gw), linear = self._grid(shape, out_dim)
        tail = [nn.Linear(channels * gh * gw, out_dim)] if linear else []
        return nn.Sequential(self.spatial_encoder(shape, channels), nn.Flatten(), *tail)

    def decoder(self, in_dim: int, shape) -> nn.Module:
        channels, (gh, gw), linear = self._grid(shape, in_dim)
        head = [nn.Linear(in_dim, channels * gh * gw)] if linear else []
        return nn.Sequential(*head, nn.Unflatten(1, (channels, gh, gw)), self.spatial_decoder(channels, shape))
