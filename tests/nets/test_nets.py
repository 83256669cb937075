"""Net specs build encoders/decoders that fit any image shape, odd sizes included."""
from __future__ import annotations

import pytest
import torch

from lightning_ae.nets import MLP, Conv


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
