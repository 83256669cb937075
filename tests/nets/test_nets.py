"""Net specs build encoders/decoders that fit any image shape, odd sizes included."""
from __future__ import annotations

import pytest
import torch

from lightning_ae.nets import MLP, Conv
from lightning_ae.nets.layers import Crop, Pad
from lightning_ae.nets.mlp import mlp


@pytest.mark.parametrize("spec", [MLP([32, 16]), Conv([8, 16]), Conv([8, 16, 32], batch_norm=True)])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 20, 24)])
def test_round_trip_shapes(spec, shape):
    enc, dec = spec.encoder(shape, 5), spec.decoder(5, shape)
    x = torch.randn(2, *shape)
    z = enc(x)
    assert z.shape == (2, 5)
    assert dec(z).shape == (2, *shape)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="unknown activation 'gelu2'"):
        MLP([4], activation="gelu2").encoder((1, 2, 2), 3)


@pytest.mark.parametrize("mode", ["constant", "replicate"])
def test_pad_centres_the_image_and_crop_inverts_it(mode):
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = Pad((2, 3), (5, 6), mode=mode, value=-1.0)(x)  # 3 rows: 1 above, 2 below; 3 columns: 1 left, 2 right
    assert padded.shape == (1, 1, 5, 6)
    assert torch.equal(padded[..., 1:3, 1:4], x)
    if mode == "constant":
        assert padded.sum() == x.sum() - (30 - 6)
    else:
        assert torch.equal(padded[..., 0, 1:4], x[..., 0, :]) and torch.equal(padded[..., 1:3, 5], x[..., :, 2])
    assert torch.equal(Crop((5, 6), (2, 3))(padded), x)


def test_mlp_builder_puts_the_activation_between_layers_only():
    net = mlp([3, 5, 2], "relu")
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    x = torch.randn(4, 3)
    assert torch.equal(net(x), net[2](torch.relu(net[0](x))))


def test_discriminator_features_at_an_inner_layer():
    """feature_layer=1: VAE-GAN's L_llike compares the first hidden layer's activations; the logit still runs
    through every layer, so it equals the default discriminator's with the same weights."""
    from lightning_ae.nets.gan import Discriminator
    from lightning_ae.nets.mlp import MLP

    torch.manual_seed(0)
    inner = Discriminator(MLP([12, 10]), (1, 4, 4), features=6, feature_layer=1)
    last = Discriminator(MLP([12, 10]), (1, 4, 4), features=6)
    last.load_state_dict({k: v for k, v in zip(last.state_dict(), inner.state_dict().values())})
    x = torch.rand(5, 1, 4, 4)
    first = inner.features[1]  # Flatten, Linear(16, 12), ReLU
    logit, f = inner(x)
    torch.testing.assert_close(f, torch.relu(first(x.flatten(1))))
    torch.testing.assert_close(logit, last(x)[0])
    assert last(x)[1].shape == (5, 6)
    with pytest.raises(ValueError, match="between 1 and 2"):
        Discriminator(MLP([12, 10]), (1, 4, 4), features=6, feature_layer=3)
