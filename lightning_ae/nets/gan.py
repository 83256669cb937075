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

from .layers import ACTIVATION_TYPES, activation


class Discriminator(nn.Module):
    """Image → (logit [B], features [B, ...]). The features are the hidden layer l whose activations VAE-GAN's
    L_llike compares. By default that is the spec encoder's output after the activation, with the logit a linear
    read-out of it. `feature_layer=k` takes them after the k-th activation of the encoder instead (the paper's
    l is an inner conv layer, §2.2, whose activations keep the image's layout): the layers up to it are
    `features`, the rest of the encoder with the read-out is `head`."""

    def __init__(self, spec, shape, features: int = 256, act: str = "leaky_relu", feature_layer: int | None = None):
        super().__init__()
        body = [*spec.encoder(shape, features), activation(act)]
        cut = len(body)
        if feature_layer is not None:
            acts = [i for i, m in enumerate(body[:-1]) if isinstance(m, ACTIVATION_TYPES)]
            if not 1 <= feature_layer <= len(acts):
                raise ValueError(f"model.disc_feature_layer must be between 1 and {len(acts)} for this net, "
                                 f"got {feature_layer}")
            cut = acts[feature_layer - 1] + 1
        self.features = nn.Sequential(*body[:cut])
        self.head = nn.Sequential(*body[cut:], nn.Linear(features, 1), nn.Flatten(0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f), f.flatten(1)


class Critic(nn.Module):
    """Image → one score per image: a net spec's encoder with its outputs averaged (ACAI's critic, §3). On
    `model/net=acai` that is the official acai.py `disc`: the encoder's latent grid averaged over h, w and channels."""

    def __init__(self, spec, shape, width: int):
        super().__init__()
        self.body = spec.encoder(shape, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).float().mean(1)
