"""VAE-GAN: each network's gradient is that of its loss in the paper; sampling decodes the prior."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
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
    cross-entropy (x real; x̃, x_p fake, real and generated weighted ½ each). L_llike = ½‖Dis_l(x) − Dis_l(x̃)‖² on
    the discriminator's features. At the initial weights both costs are near ln 2, inside the equilibrium margin,
    so all three networks step."""
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
    logit = lambda im: ref.discriminator.head(features(im))  # noqa: E731
    decode = lambda code: torch.sigmoid(ref.decoder(code))  # noqa: E731
    llike = lambda im: 0.5 * (features(x).detach() - features(im)).pow(2).sum(1).mean()  # noqa: E731
    prior = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    l_enc = prior + llike(decode(z))
    x_tilde, x_p = decode(z.detach()), decode(z_p)
    l_dec = gamma * llike(x_tilde) - F.logsigmoid(logit(x_tilde)).mean() - F.logsigmoid(logit(x_p)).mean()
    l_dis = (-F.logsigmoid(logit(x)).mean()
             - 0.5 * (F.logsigmoid(-logit(x_tilde.detach())).mean() + F.logsigmoid(-logit(x_p.detach())).mean()))

    terms = model.last_train_terms
    for name, value in {"prior": prior, "encoder": l_enc, "decoder": l_dec, "discriminator": l_dis}.items():
        torch.testing.assert_close(terms[name], value.detach(), msg=name)
    assert_step_gradients(rec.grads[0], l_enc, ref, ("encoder",))
    assert_step_gradients(rec.grads[1], l_dec, ref, ("decoder",))
    assert_step_gradients(rec.grads[2], l_dis, ref, ("discriminator",))


@pytest.mark.parametrize("real, fake, steps", [
    (0.69, 0.69, (True, True)),    # near equilibrium: both sides step
    (0.20, 0.69, (True, False)),   # the discriminator wins on real images (0.20 < 0.68 - 0.4): it pauses
    (0.69, 0.10, (True, False)),   # ... or on generated ones
    (1.20, 0.69, (False, True)),   # it loses (1.20 > 0.68 + 0.4): the decoder pauses
    (0.69, 1.50, (False, True)),
    (0.10, 1.50, (True, True)),    # both rules fire: both step (the official code's fallback)
])
def test_equilibrium_pauses_the_side_that_is_ahead(make_cfg, real, fake, steps):
    _, model = small(make_cfg)  # equilibrium 0.68, margin 0.4
    assert model.balance(real, fake) == steps


def test_a_paused_side_keeps_its_weights(make_cfg):
    """With the discriminator far ahead (margin 0: any cost below 0.68 pauses it), one batch leaves its weights as
    they were, and the logged step shares say so."""
    _, model = small(make_cfg, extra=["model.margin=0.0", "model.equilibrium=100.0"])  # every cost is "below"
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    one_batch(model, x, seed=5)
    assert all(torch.equal(a, p) for a, p in zip(before, model.discriminator.parameters()))
    assert model.last_train_terms["discriminator_steps"] == 0 and model.last_train_terms["decoder_steps"] == 1


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


def test_a_conv_discriminator_judges_an_mlp_pair(make_cfg):
    """model.disc_net builds the discriminator from its own spec (the vaegan_mnist recipe: conv D, MLP E and Dec);
    feature layer 1 is then the first conv's activations, which keep the image's layout."""
    disc = "{_target_:lightning_ae.nets.Conv,channels:[4,8],activation:leaky_relu}"
    _, model = small(make_cfg, extra=[f"model.disc_net={disc}", "model.disc_feature_layer=1"])
    assert not any(isinstance(m, torch.nn.Conv2d) for m in [*model.encoder.modules(), *model.decoder.modules()])
    assert [type(m) for m in model.discriminator.features] == [torch.nn.Conv2d, torch.nn.LeakyReLU]
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    logit, features = model.discriminator(x)
    assert logit.shape == (6,) and features.shape == (6, 4 * 4 * 4)  # 4 channels on the 4x4 map of the first conv
    before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    one_batch(model, x, seed=5)
    assert any(not torch.equal(v, model.discriminator.state_dict()[k]) for k, v in before.items())
