"""ACAI's conv net is the official one (brain-research/acai, lib/layers.py): its layer list at the lines setting,
its initialisation's standard deviation, and the critic's reduction (acai.py, `disc`)."""
from __future__ import annotations

import math

import torch
from torch import nn

from lightning_ae.nets.acai import ACAINet
from lightning_ae.nets.gan import Critic


def layer_list(module: nn.Module) -> list[tuple]:
    """Convs as ("conv", in, out, kernel); activations, pooling and upsampling by name; shape-only layers skipped."""
    out = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            out.append(("conv", m.in_channels, m.out_channels, m.kernel_size[0]))
        elif isinstance(m, nn.LeakyReLU):
            out.append(("lrelu", m.negative_slope))
        elif isinstance(m, nn.AvgPool2d):
            out.append(("pool", m.kernel_size))
        elif isinstance(m, nn.Upsample):
            out.append(("up", m.scale_factor, m.mode))
    return out


def test_layer_list_at_the_lines_setting():
    """32×32 lines, depth 16, 2×2×16 latent (runs/acai.sh: --latent_width=2 --depth=16 --latent=16): 4 scales,
    written out by hand from lib/layers.py."""
    net = ACAINet(depth=16, latent_size=2)
    a = ("lrelu", 0.2)
    enc = [("conv", 1, 16, 1)]
    for c_in, c in ((16, 16), (16, 32), (32, 64), (64, 128)):
        enc += [("conv", c_in, c, 3), a, ("conv", c, c, 3), a, ("pool", 2)]
    enc += [("conv", 128, 256, 3), a, ("conv", 256, 16, 3)]  # the extra conv after the last pooling, then the latent
    dec = []
    for c_in, c in ((16, 128), (128, 64), (64, 32), (32, 16)):
        dec += [("conv", c_in, c, 3), a, ("conv", c, c, 3), a, ("up", 2.0, "nearest")]
    dec += [("conv", 16, 16, 3), a, ("conv", 16, 1, 3)]  # the extra conv after the last upsampling, then the image

    encoder, decoder = net.encoder((1, 32, 32), 64), net.decoder(64, (1, 32, 32))
    assert layer_list(encoder) == enc and layer_list(decoder) == dec
    assert sum(k[0] == "conv" for k in enc) == 11 and sum(k[0] == "conv" for k in dec) == 10
    assert not any(isinstance(m, nn.Linear) for m in [*encoder.modules(), *decoder.modules()])
    assert encoder(torch.zeros(2, 1, 32, 32)).shape == (2, 64)


def test_every_conv_has_the_he_modified_normal_init():
    """std = 1/√((1 + 0.2²)·fan_in), fan_in = in·k·k, biases zero. PyTorch's default (uniform, std 1/√(3·fan_in),
    non-zero biases) is 41 % below it and fails; the kurtosis tells a normal (3) from a uniform (1.8)."""
    torch.manual_seed(0)
    net = ACAINet(depth=32, latent_size=2)
    convs = [m for part in (net.encoder((1, 32, 32), 64), net.decoder(64, (1, 32, 32)))
             for m in part.modules() if isinstance(m, nn.Conv2d)]
    big = [m for m in convs if m.weight.numel() >= 50_000]
    assert len(big) >= 6
    for m in big:
        c_out, c_in, kh, kw = m.weight.shape
        want = 1.0 / math.sqrt((1 + 0.2**2) * c_in * kh * kw)
        w = m.weight.detach().double().flatten()
        assert abs(w.std().item() / want - 1) < 0.02, (m, w.std().item(), want)
        assert abs(w.mean().item()) < 4 * want / math.sqrt(w.numel())
        kurtosis = ((w - w.mean()) ** 4).mean() / w.var() ** 2
        assert abs(kurtosis.item() - 3.0) < 0.1
    assert all(torch.count_nonzero(m.bias) == 0 for m in convs)


def test_critic_is_the_encoder_with_its_latent_grid_averaged():
    """acai.py's disc: reduce_mean of the encoder's [B, h, w, latent] output over h, w and channels."""
    torch.manual_seed(0)
    net = ACAINet(depth=4, latent_size=2)
    critic = Critic(net, (1, 32, 32), 64)
    x = torch.randn(3, 1, 32, 32)
    grid = critic.body[0](x)  # the spatial encoder: [3, 16, 2, 2]
    assert grid.shape == (3, 16, 2, 2)
    torch.testing.assert_close(critic(x), grid.mean(dim=(1, 2, 3)))
