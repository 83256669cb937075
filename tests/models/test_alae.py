"""ALAE: sample = G(F(z)), reconstruct = G(E(x)); R1 against finite differences; each step's gradient is
that of its loss in the paper."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F

from tests.conftest import run_cfg
from tests.models.test_adversarial import assert_step_gradients, at_weights, one_batch


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


def test_r1_is_the_squared_finite_difference_gradient_of_the_real_score(make_cfg):
    _, model = small(make_cfg)
    model = model.double()
    x, fake = torch.rand(3, 1, 8, 8, dtype=torch.float64), torch.rand(3, 1, 8, 8, dtype=torch.float64)
    h, eye = 1e-6, torch.eye(64, dtype=torch.float64).view(64, 1, 8, 8)
    with torch.no_grad():  # central differences of D(E(x)) along every pixel of every image
        score = lambda im: model.discriminator(model.encoder(im)).squeeze(1)  # noqa: E731
        grad = torch.stack([(score(xi + h * eye) - score(xi - h * eye)) / (2 * h) for xi in x])
    r1 = grad.pow(2).sum(1).mean()
    torch.testing.assert_close(model.discriminator_loss(x, fake, r1=True)[1], r1.float(), rtol=1e-5, atol=0)


def test_each_step_gets_the_gradient_of_its_paper_loss(make_cfg):
    """The three steps of Pidhorskyi et al. (2020), written out with the non-saturating signs:
    (1) E, D on softplus(D(E(G(F(z))))) + softplus(−D(E(x))) + (γ/2)·R1; (2) F, G on softplus(−D(E(G(F(z)))));
    (3) E, then G, on ‖E(G(w)) − w‖² with w = sg[F(z)], so F gets no gradient. Each step starts from the
    weights the previous one left."""
    r1_gamma = 4.0  # not the default, so that a hard-coded weight shows
    _, model = small(make_cfg, extra=[f"model.r1_gamma={r1_gamma}"])
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    rec = one_batch(model, x, seed=5)
    torch.manual_seed(5)
    z = torch.randn(6, 8)
    nets = [at_weights(model, w) for w in rec.weights]
    score = lambda m, im: m.discriminator(m.encoder(im)).squeeze(1)  # noqa: E731
    generate = lambda m, w: torch.sigmoid(m.generator(w))  # noqa: E731

    m = nets[0]
    real = x.clone().requires_grad_(True)
    real_score = score(m, real)
    (grad,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
    r1 = grad.pow(2).sum((1, 2, 3)).mean()
    disc = F.softplus(score(m, generate(m, m.mapping(z)).detach())).mean() + F.softplus(-real_score).mean()
    assert_step_gradients(rec.grads[0], disc + r1_gamma / 2 * r1, m, ("encoder", "discriminator"))

    m = nets[1]
    gen = F.softplus(-score(m, generate(m, m.mapping(z)))).mean()
    assert_step_gradients(rec.grads[1], gen, m, ("mapping", "generator"))

    for m, step, owner in ((nets[2], rec.grads[2], "encoder"), (nets[3], rec.grads[3], "generator")):
        w = m.mapping(z)
        latent = (m.encoder(generate(m, w.detach())) - w.detach()).pow(2).mean()
        assert_step_gradients(step, latent, m, (owner,))  # no mapping: the stop-gradient on w
        assert all(g.abs().sum() > 0 for g in torch.autograd.grad(  # which the loss without sg would reach
            (m.encoder(generate(m, w)) - w).pow(2).mean(), list(m.mapping.parameters())))

    terms = model.last_train_terms
    for name, value in {"discriminator": disc, "r1": r1, "generator": gen}.items():
        torch.testing.assert_close(terms[name], value.detach(), msg=name)


def test_paper_defaults(make_cfg):
    cfg = make_cfg("alae", "mnist")
    assert cfg.model.latent_dim == 50 and cfg.model.r1_gamma == 10 and list(cfg.model.net.hidden) == [1024, 1024]
    assert list(cfg.model.optimizer.betas) == [0.0, 0.99] and cfg.model.generator_optimizer.lr == 2e-4


def test_conv_configuration_on_32px_images(make_cfg):
    cfg = make_cfg("alae", "cifar10", extra=["model.latent_dim=8", "model.disc_hidden=[16]", "model/net=alae_conv", "model.net.channels=[8,16]",
                                          "evaluation.enabled=false"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert {"test/loss", "test/latent", "test/discriminator", "test/generator"} <= set(metrics)
