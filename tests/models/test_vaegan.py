"""VAE-GAN: each network's gradient is that of its loss in the paper; sampling decodes the prior."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F

from tests.conftest import run_cfg
from tests.models.test_adversarial import assert_step_gradients, at_weights, one_batch


def small(make_cfg, data="digits", extra=()):
    cfg = make_cfg("vaegan", data, extra=["model.net.hidden=[32]", "model.latent_dim=4", "model.disc_features=16",
                                          *extra])
    return cfg, hydra.utils.instantiate(cfg.model)


def test_each_network_gets_the_gradient_of_its_paper_loss(make_cfg):
    """Algorithm 1 of Larsen et al. (2016), written out: the encoder on L_prior + L_llike, the decoder on
    γ·L_llike plus the (non-saturating) generator loss on x̃ and x_p, the discriminator on the GAN's binary
    cross-entropy (x real; x̃, x_p fake). L_llike = ½‖Dis_l(x) − Dis_l(x̃)‖² on the discriminator's features."""
    gamma = 0.3  # not the default, so that a hard-coded weight shows
    _, model = small(make_cfg, extra=[f"model.gamma={gamma}"])
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    rec = one_batch(model, x, seed=5)
    ref = at_weights(model, rec.weights[0])  # every loss of the batch is on the initial weights

    torch.manual_seed(5)  # the step draws z_p, then ε
    z_p, eps = torch.randn(6, 4), torch.randn(6, 4)
    mu, logvar = ref.encoder(x).chunk(2, dim=1)
    z = mu + eps * (0.5 * logvar).exp()
    features = ref.discriminator.features
    logit = lambda im: ref.discriminator.head(features(im)).squeeze(1)  # noqa: E731
    decode = lambda code: torch.sigmoid(ref.decoder(code))  # noqa: E731
    llike = lambda im: 0.5 * (features(x).detach() - features(im)).pow(2).sum(1).mean()  # noqa: E731
    prior = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    l_enc = prior + llike(decode(z))
    x_tilde, x_p = decode(z.detach()), decode(z_p)
    l_dec = gamma * llike(x_tilde) - F.logsigmoid(logit(x_tilde)).mean() - F.logsigmoid(logit(x_p)).mean()
    l_dis = (-F.logsigmoid(logit(x)).mean() - F.logsigmoid(-logit(x_tilde.detach())).mean()
             - F.logsigmoid(-logit(x_p.detach())).mean())

    terms = model.last_train_terms
    for name, value in {"prior": prior, "encoder": l_enc, "decoder": l_dec, "discriminator": l_dis}.items():
        torch.testing.assert_close(terms[name], value.detach(), msg=name)
    assert_step_gradients(rec.grads[0], l_enc, ref, ("encoder",))
    assert_step_gradients(rec.grads[1], l_dec, ref, ("decoder",))
    assert_step_gradients(rec.grads[2], l_dis, ref, ("discriminator",))


def test_sample_decodes_the_prior_and_reconstruct_the_posterior_mean(make_cfg):
    _, model = small(make_cfg)
    torch.manual_seed(3)
    s = model.sample(5)
    torch.manual_seed(3)
    torch.testing.assert_close(s, torch.sigmoid(model.decoder(torch.randn(5, 4))))
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(model.reconstruct(x), torch.sigmoid(model.decoder(model.encoder(x)[:, :4])))


def test_conv_networks_on_colour_images(make_cfg):
    cfg = make_cfg("vaegan", "cifar10", extra=["model.latent_dim=4", "model.disc_features=16", "model/net=alae_conv", "model.net.channels=[8,16]",
                                          "evaluation.enabled=false"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert {"test/loss", "test/kl", "test/llike", "test/discriminator"} <= set(metrics)
