"""VQ-VAE prior: a causal PixelCNN over a trained VQ-VAE's codes, so the pair can sample.

Not in the generic smoke test: it needs a VQ-VAE checkpoint, made here first.
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

from lightning_ae.errors import UserError
from lightning_ae.nets.pixelcnn import PixelCNN
from lightning_ae.building import build
from tests.conftest import run_cfg

SMALL_VQ = ["model.num_codes=16", "model.latent_dim=8", "model.net.hidden=16", "model.net.res_hidden=8"]


def test_pixelcnn_is_causal_in_raster_order():
    net = PixelCNN(num_codes=5, hidden=8, layers=3)
    idx = torch.randint(5, (1, 4, 5))
    emb = net.embed(idx).permute(0, 3, 1, 2).detach().requires_grad_(True)
    out = net.head(net.blocks(net.first(emb)))
    for i, j in [(0, 0), (1, 2), (3, 4), (2, 0)]:
        grad, = torch.autograd.grad(out[0, :, i, j].sum(), emb, retain_graph=True)
        seen = grad[0].abs().sum(0) > 0
        before = torch.zeros(4, 5, dtype=torch.bool)
        before.view(-1)[: i * 5 + j] = True
        assert not (seen & ~before).any(), f"position {(i, j)} sees itself or a later position"
    assert net.sample(3, 2, 3).shape == (3, 2, 3)


@pytest.fixture
def vqvae_ckpt(make_cfg, tmp_path) -> Path:
    cfg = make_cfg("vqvae", "digits", SMALL_VQ + ["trainer.max_epochs=1", "trainer.limit_train_batches=3",
                                                  "trainer.limit_val_batches=1", "logger=none", "test=false",
                                                  f"paths.output_dir={tmp_path / 'vq'}"], fast=False)
    run_cfg(cfg)
    return tmp_path / "vq" / "checkpoints" / "last.ckpt"


def test_prior_trains_on_codes_and_samples(vqvae_ckpt, make_cfg):
    cfg = make_cfg("vqvae_prior", "digits", [f"model.vqvae_ckpt={vqvae_ckpt}", "trainer.precision=bf16-mixed",
                                             "model.net.hidden=16", "model.net.layers=2"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    model = hydra.utils.instantiate(cfg.model)
    positions = model.vqvae.grid[0] * model.vqvae.grid[1]
    assert metrics["test/loss"] == pytest.approx(metrics["test/nats_per_code"] * positions, rel=1e-5)
    # the prior's loss is −log p(codes) = −Σ_positions log softmax(logits)[code] per image (van den Oord et al.
    # 2017, §3.2: the PixelCNN fit by maximum likelihood on the frozen first stage's codes)
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        idx = model.vqvae.code_indices(x)
        log_p = torch.log_softmax(model.prior(idx).float(), 1).gather(1, idx.unsqueeze(1)).squeeze(1)
        terms = model.loss((x, None))
    assert terms["loss"].item() == pytest.approx(-log_p.flatten(1).sum(1).mean().item(), rel=1e-5)
    assert terms["nats_per_code"].item() == pytest.approx(terms["loss"].item() / positions, rel=1e-6)
    frozen = {k: v.clone() for k, v in model.vqvae.state_dict().items()}
    model.train()
    assert not model.vqvae.training
    x = torch.rand(4, 1, 8, 8)
    loss = model.loss((x, None))["loss"]
    loss.backward()
    assert all(torch.equal(v, model.vqvae.state_dict()[k]) for k, v in frozen.items())  # first stage untouched
    assert all(p.grad is None for p in model.vqvae.parameters())
    samples = model.eval().sample(3)
    assert samples.shape == (3, 1, 8, 8) and model.can_sample
    idx = model.sample_indices(2)
    assert idx.shape == (2, *model.vqvae.grid) and int(idx.max()) < model.vqvae.num_codes
    with pytest.raises(UserError, match="shape"):  # the VQ-VAE saw 8×8 digits, not 28×28 MNIST
        build(make_cfg("vqvae_prior", "mnist", [f"model.vqvae_ckpt={vqvae_ckpt}"]), "model")


def test_missing_or_wrong_checkpoint_is_a_clear_error(make_cfg, tmp_path):
    with pytest.raises(UserError, match="vqvae_ckpt"):
        run_cfg(make_cfg("vqvae_prior", "digits"))
    with pytest.raises(UserError, match="does not exist"):
        run_cfg(make_cfg("vqvae_prior", "digits", [f"model.vqvae_ckpt={tmp_path / 'nope.ckpt'}"]))

