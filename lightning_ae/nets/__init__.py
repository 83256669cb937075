"""The networks every variant builds on, in one place.

A *net spec* is a small object made by Hydra from `conf/model/net/*.yaml`. It knows nothing of the data
until a model asks it for modules that fit a given image shape `(C, H, W)`:

    spec.encoder(shape, out_dim)  -> nn.Module  mapping [B, C, H, W] to [B, out_dim]
    spec.decoder(in_dim, shape)   -> nn.Module  mapping [B, in_dim] to [B, C, H, W]

so network sizes follow the data and never repeat numbers in configs.
"""
from .conv import Conv
from .layers import activation
from .mlp import MLP

__all__ = ["Conv", "MLP", "activation"]
