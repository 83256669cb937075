"""VAE-GAN: reconstruction is measured on the discriminator's feature layer; sampling decodes the prior."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch

from tests.conftest import run_cfg


def small(make_cfg, data="digits", extra=()):
    cfg = make_cfg("vaegan", data, extra=["model.net.hidden=[32]", "model.latent_dim=4", "model.disc_features=16",
                                          *extra])
    return cfg, hydra.utils.instantiate(cfg.model)


def test_llike_lives_in_discriminator_feature_space(make_cfg):
    _, model = small(make_cfg)
    x = torch.rand(6, 1, 8, 8)
    x_hat = model.decode(model.encode(x))
    f = lambda im: model.discriminator(im)[1]
    assert f(x).shape == (6, 16)
    assert model.llike(f(x), f(x)) == 0
    before = model.llike(f(x), f(x_hat)).item()
    torch.nn.init.zeros_(model.discriminator.features[-1].weight)  # a blind discriminator sees no difference
    torch.nn.init.zeros_(model.discriminator.features[-1].bias)
    assert before > 0 and model.llike(f(x), f(x_hat)) == 0


def test_sample_and_reconstruct_are_images(make_cfg):
    _, model = small(make_cfg)
    s, r = model.sample(5), model.reconstruct(torch.rand(3, 1, 8, 8))
    assert s.shape == (5, 1, 8, 8) and r.shape == (3, 1, 8, 8)
    assert s.min() >= 0 and s.max() <= 1  # bernoulli data: probabilities


def test_conv_networks_on_colour_images(make_cfg):
    cfg = make_cfg("vaegan", "cifar10", extra=["model.latent_dim=4", "model.disc_features=16", "model/net=alae_conv", "model.net.channels=[8,16]",
                                          "evaluation.enabled=false"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert {"test/loss", "test/kl", "test/llike", "test/discriminator"} <= set(metrics)
