"""Networks of the adversarial variants: VAE-GAN's image discriminator, ALAE's mapping and latent discriminator.

The image-side networks come from the ordinary net specs (`conf/model/net/*.yaml`), so every adversarial
model runs on MLPs, the stride-2 `Conv` spec or ACAI's net alike:
- VAE-GAN's discriminator is `spec.encoder(shape, features)` and a leaky ReLU (the "hidden layer l" whose
  activations measure reconstruction, Larsen et al. 2016 §2.2), then a linear logit.
- ALAE's encoder E and generator G are `spec.encoder(shape, latent)` / `spec.decoder(latent, shape)`;
  `conf/model/net/alae_mlp.yaml` is the paper's MNIST MLP (784-1024-1024-50, leaky ReLU 0.2) and
  `alae_conv.yaml` a convolutional pair for 32×32 and larger images.
- ALAE's mapping F (z → w) and latent discriminator D (w → score) are small MLPs built by `nets.mlp.mlp`.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import activation


class Discriminator(nn.Module):
    """Image → (logit [B], features [B, F]). The features are the hidden layer l whose activations VAE-GAN's
    L_llike compares: the spec encoder's output after the activation; the logit is a linear read-out of them."""

    def __init__(self, spec, shape, features: int = 256, act: str = "leaky_relu"):
        super().__init__()
        self.features = nn.Sequential(spec.encoder(shape, features), activation(act))
        self.head = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f).squeeze(1), f


class Critic(nn.Module):
    """Image → one score per image: a net spec's encoder with its outputs averaged (ACAI's critic, §3)."""

    def __init__(self, spec, shape, width: int):
        super().__init__()
        self.body = spec.encoder(shape, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).float().mean(1)
