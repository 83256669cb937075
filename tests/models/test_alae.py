"""ALAE: sample = G(F(z)), reconstruct = G(E(x)); the R1 penalty is on the real images' score gradient."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch

from tests.conftest import run_cfg


def small(make_cfg, data="digits", extra=()):
    cfg = make_cfg("alae", data, extra=["model.net.hidden=[32]", "model.latent_dim=8", "model.disc_hidden=[16]",
                                        *extra])
    return cfg, hydra.utils.instantiate(cfg.model)


def test_sample_and_reconstruct_compose_the_right_networks(make_cfg):
    _, model = small(make_cfg)
    torch.manual_seed(3)
    s = model.sample(4)
    torch.manual_seed(3)
    z = torch.randn(4, 8)
    assert torch.allclose(s, torch.sigmoid(model.generator(model.mapping(z))))
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(model.reconstruct(x), torch.sigmoid(model.generator(model.encoder(x))))


def test_r1_penalty_follows_the_real_score_gradient(make_cfg):
    _, model = small(make_cfg)
    x, fake = torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8)
    _, r1 = model.discriminator_loss(x, fake, r1=True)
    assert r1 > 0
    torch.nn.init.zeros_(model.discriminator[-1].weight)  # a constant score has no gradient
    assert model.discriminator_loss(x, fake, r1=True)[1] == 0


def test_paper_defaults(make_cfg):
    cfg = make_cfg("alae", "mnist")
    assert cfg.model.latent_dim == 50 and cfg.model.r1_gamma == 10 and list(cfg.model.net.hidden) == [1024, 1024]
    assert list(cfg.model.optimizer.betas) == [0.0, 0.99] and cfg.model.generator_optimizer.lr == 0.002


def test_conv_configuration_on_32px_images(make_cfg):
    cfg = make_cfg("alae", "cifar10", extra=["model.latent_dim=8", "model.disc_hidden=[16]", "model/net=alae_conv", "model.net.channels=[8,16]",
                                          "evaluation.enabled=false"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert {"test/loss", "test/latent", "test/discriminator", "test/generator"} <= set(metrics)
