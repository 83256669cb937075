"""ACAI's convolutional encoder/decoder as the official code builds it (Berthelot, Raffel, Roy & Goodfellow,
ICLR 2019, §3 and appendix; brain-research/acai, `lib/layers.py`, functions `encoder` and `decoder`).

Encoder: a 1×1 conv to `depth` channels (no activation); per scale two 3×3 convs (leaky ReLU 0.2) with
depth·2^scale channels, then 2×2 average pooling; after the last pooling one more 3×3 leaky-ReLU conv with
depth·2^scales channels; then a 3×3 conv (no activation) to the latent channels on a small grid.
Decoder: per scale (coarsest first) two 3×3 leaky-ReLU convs with depth·2^scale channels, then nearest-neighbour
×2 upsampling; after the last upsampling one more 3×3 leaky-ReLU conv to `depth` channels; then a 3×3 conv to
the image channels. At 32×32 with a 2×2 latent (4 scales): 11 convs in the encoder, 10 in the decoder.
The critic is this encoder with its latent grid averaged to one number per image (official `acai.py`, `disc`:
a mean over height, width and channels; `lightning_ae.nets.gan.Critic`).

Initialisation (official `lib/layers.py`, `HeModifiedNormalInitializer(0.2)` on every conv): weights
N(0, 1/((1 + 0.2²)·fan_in)) with fan_in = in_channels·k·k, He's normal corrected for a leaky ReLU of slope 0.2;
biases zero (TensorFlow's default). Why it matters: with PyTorch's default init (uniform, std 1/√(3·fan_in),
1.7× smaller, and non-zero biases) the signal shrinks through the 21 convs, the decoder's output barely depends on
its input at the start (spread across 64 lines ~1e-9 vs ~1e-5 with this init, issue 22), and at Adam 1e-4 training
sat on the blank-image plateau for thousands of batches; with this init the AE leaves it after ~1,250 batches
(benchmarks/plateau.py).

The number of scales follows the image: enough halvings to bring the smaller side down to `latent_size`
(8×8 → 1 scale, 28×28 → 3, 32×32 → 3; lines use latent_size 2 → 4). Images whose side the scales cannot
divide are padded (replicate) to the next multiple of 2^scales and cropped back in the decoder, as the paper
pads MNIST to 32×32; with `pad: false` such a size is a UserError.

As a net spec (`model/net=acai`) the latent grid is flattened: `encoder(shape, out_dim)` gives [B, out_dim].
When out_dim is a multiple of the grid area the grid simply has out_dim/area channels (the paper's latent);
otherwise a linear layer (PyTorch's default init; not in the paper) maps the flattened grid to out_dim (and back).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lightning_ae.errors import UserError

from .layers import Crop, Pad, activation

SLOPE = 0.2  # the official leaky ReLU slope, also the one its initialiser corrects for


def he_modified_std(fan_in: int, slope: float = SLOPE) -> float:
    """The official conv init's standard deviation: 1/√((1 + slope²)·fan_in)."""
    return 1.0 / math.sqrt((1.0 + slope**2) * fan_in)


@torch.no_grad()
def init_official(module: nn.Module) -> nn.Module:
    """Every Conv2d in `module`: weights N(0, he_modified_std(fan_in)), biases 0 (official `lib/layers.py`)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.normal_(0.0, he_modified_std(m.weight[0].numel()))
            if m.bias is not None:
                m.bias.zero_()
    return module


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

    def _conv(self, c_in: int, c_out: int) -> list[nn.Module]:
        """A 3×3 'same' conv and the leaky ReLU."""
        return [nn.Conv2d(c_in, c_out, 3, padding=1), activation(self.act)]

    def spatial_encoder(self, shape, latent_channels: int) -> nn.Module:
        """[B, C, H, W] → latent grid [B, latent_channels, h, w] (the paper's encoder; also the critic body)."""
        shape = tuple(int(s) for s in shape)
        scales, padded, _ = self.layout(shape)
        layers: list[nn.Module] = [Pad(shape[1:], padded), nn.Conv2d(shape[0], self.depth, 1)]
        c = self.depth
        for s in range(scales):
            layers += self._conv(c, self.depth << s) + self._conv(self.depth << s, self.depth << s) + [nn.AvgPool2d(2)]
            c = self.depth << s
        layers += self._conv(c, self.depth << scales)
        return init_official(nn.Sequential(*layers, nn.Conv2d(self.depth << scales, latent_channels, 3, padding=1)))

    def spatial_decoder(self, latent_channels: int, shape) -> nn.Module:
        """Latent grid [B, latent_channels, h, w] → [B, C, H, W] (decoder output, before the likelihood)."""
        shape = tuple(int(s) for s in shape)
        scales, padded, _ = self.layout(shape)
        layers: list[nn.Module] = []
        c = latent_channels
        for s in reversed(range(scales)):
            layers += self._conv(c, self.depth << s) + self._conv(self.depth << s, self.depth << s)
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            c = self.depth << s
        layers += self._conv(c, self.depth)
        return init_official(nn.Sequential(*layers, nn.Conv2d(self.depth, shape[0], 3, padding=1),
                                           Crop(padded, shape[1:])))

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


class ACAIGrid(ACAINet):
    """The same net with its latent grid kept as [B, D, h, w] (`model/net=acai_grid`): the interface of a net with a
    spatial latent (`grid`, as `nets.vq.VQConv`), so model=vqvae runs on ACAI's net with the paper's grid."""

    def grid(self, shape) -> tuple[int, int]:
        return self.layout(shape)[2]

    def encoder(self, shape, out_dim: int) -> nn.Module:
        return self.spatial_encoder(shape, out_dim)

    def decoder(self, in_dim: int, shape) -> nn.Module:
        return self.spatial_decoder(in_dim, shape)
