"""NVAE: schedules, likelihood, gradients into every group, spectral state in checkpoints, precision, DDP.

The fast_dev_run of `nvae` and `nvae_small` on every datamodule lives in test_smoke.py.
"""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import hydra
import pytest
import torch

from lightning_ae.errors import UserError
from lightning_ae.likelihoods import LogisticMixture
from lightning_ae.models.nvae import NVAE, balance_kl, kl_warmup_coeff
from lightning_ae.nets.nvae import SRConv2d, spectral_norms
from tests.conftest import only_run_dir, run_cfg, run_cli

SMALL = dict(channels=8, pre_blocks=2, pre_cells=1, scales=2, groups_per_scale=[2, 1], latent_per_group=4,
             enc_cells=1, dec_cells=1, post_blocks=2, post_cells=1, expand=2)


def small(shape, likelihood="bernoulli", **kw):
    return NVAE(shape=shape, likelihood=likelihood, schedule_steps=100, **{**SMALL, **kw})


def test_kl_warmup_follows_its_schedule():
    total = 1000
    betas = [kl_warmup_coeff(t, total, warmup=0.3, constant=0.0, minimum=1e-4) for t in range(total)]
    assert betas[0] == pytest.approx(1e-4)
    assert betas[150] == pytest.approx(0.5)
    assert all(b == 1.0 for b in betas[300:])
    assert all(a <= b for a, b in zip(betas, betas[1:]))
    # a constant share first: held at the minimum until constant·T
    assert kl_warmup_coeff(99, total, 0.3, constant=0.1, minimum=0.01) == pytest.approx(0.01)
    assert kl_warmup_coeff(250, total, 0.3, constant=0.1, minimum=0.01) == pytest.approx(0.5)


def test_kl_balancing_uses_the_official_per_scale_coefficients():
    """2 scales, 1 group at the top (2×2) and 3 at the finer scale (4×4): the official 'square' coefficients
    are 4^s / groups[s] = [1, 4/3, 4/3, 4/3] (a group-size rule would give [1, 4, 4, 4])."""
    model = small((1, 8, 8), groups_per_scale=[1, 3])
    alpha = torch.tensor([1.0, 4 / 3, 4 / 3, 4 / 3])
    assert torch.allclose(model.kl_alpha, alpha)
    kl = torch.tensor([[4.0, -1.0, 8.0, 0.5], [2.0, 3.0, 8.0, 0.5]], requires_grad=True)  # [B, groups]
    balanced, gamma = balance_kl(kl, model.kl_alpha)
    # the official kl_balancer, step by step
    coeff = kl.detach().abs().mean(0, keepdim=True) + 0.01
    coeff = coeff / alpha * coeff.sum()
    coeff = coeff / coeff.mean(1, keepdim=True)
    assert torch.allclose(gamma, coeff.squeeze(0))
    assert torch.allclose(balanced, (kl * coeff).sum(1))
    balanced.sum().backward()  # γ is a constant: the gradient of each group's KL is its γ
    assert torch.allclose(kl.grad, coeff.expand_as(kl))


@pytest.mark.parametrize("scales,groups", [(2, [2, 4]), (3, [1, 2, 4])])
def test_adaptive_groups_give_the_finest_scale_the_most_groups(scales, groups):
    """The official --ada_groups: groups_per_scale at the finest scale, halving toward the top (top first here)."""
    kw = dict(scales=scales, pre_blocks=1, post_blocks=1)
    assert small((1, 16, 16), groups_per_scale=4, adaptive_groups=True, **kw).net.groups == groups
    assert small((1, 16, 16), groups_per_scale=4, **kw).net.groups == [4] * scales


def _bernoulli_nll(logits, x):
    p = torch.sigmoid(logits.double())
    return -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)


def _gauss_log_density(z, mu, sigma):
    z, mu, sigma = z.double(), mu.double(), sigma.double()
    return (-0.5 * ((z - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)


def test_elbo_and_importance_weight_equal_an_independent_computation():
    """Eval loss = recon + Σ_l KL(q_l ‖ p_l) (Gaussian KL written out) and, for the same draw of z, the log
    importance weight = log p(x|z) + Σ_l [log p(z_l|z_<l) − log q(z_l|x, z_<l)]; 28×28 is padded to 32×32."""
    torch.manual_seed(0)
    model = small((1, 28, 28)).eval()
    x = torch.rand(3, 1, 28, 28).bernoulli()
    with torch.no_grad():
        torch.manual_seed(1)
        terms = model.loss((x, None))
        torch.manual_seed(1)
        lw = model.log_weights(x, k=1)[0]
        torch.manual_seed(1)
        out, groups = model.net.top_down(model.net.bottom_up(torch.nn.functional.pad(x, (2, 2, 2, 2))))
    recon = _bernoulli_nll(out[:, :, 2:30, 2:30], x.double())
    kl = sum((p.sigma.double().log() - q.sigma.double().log()
              + (q.sigma.double() ** 2 + (q.mu.double() - p.mu.double()) ** 2) / (2 * p.sigma.double() ** 2)
              - 0.5).flatten(1).sum(1) for _, q, p in groups)
    assert terms["recon"].item() == pytest.approx(recon.mean().item(), rel=1e-5)
    assert terms["kl"].item() == pytest.approx(kl.mean().item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx((recon + kl).mean().item(), rel=1e-5)
    assert terms["elbo"].item() == pytest.approx(-(recon + kl).mean().item(), rel=1e-5)
    want = -recon + sum(_gauss_log_density(z, p.mu, p.sigma) - _gauss_log_density(z, q.mu, q.sigma)
                        for z, q, p in groups)
    assert torch.allclose(lw.double(), want, rtol=1e-5)


def test_training_loss_applies_warmup_balancing_and_spectral_terms(monkeypatch):
    torch.manual_seed(0)
    model = small((1, 28, 28), spectral_coeff=0.1)
    x = torch.rand(4, 1, 28, 28).bernoulli()
    model.train()
    for beta in (1e-3, 0.5, 1.0):
        monkeypatch.setattr(NVAE, "kl_coeff", lambda self: beta)
        torch.manual_seed(1)
        terms = model.loss((x, None))
        assert terms["kl_coeff"].item() == pytest.approx(beta)
        kl_groups = torch.stack([terms[f"kl_group_{i}"] for i in range(model.net.num_groups)])
        assert kl_groups.sum().item() == pytest.approx(terms["kl"].item(), rel=1e-5)
        assert terms["spectral"].item() > 0
        kl_part = (terms["loss"] - terms["recon"] - 0.1 * terms["spectral"]).item() / beta
        if beta == 1.0:  # after warm-up: the plain KL
            assert kl_part == pytest.approx(terms["kl"].item(), rel=1e-3)
        else:  # during warm-up: the balanced KL, Σ γ_l·KL_l with γ from balance_kl
            want = (kl_groups * balance_kl(kl_groups.unsqueeze(0), model.kl_alpha)[1]).sum().item()
            assert kl_part == pytest.approx(want, rel=1e-2)
    model.eval()
    terms = model.loss((x, None))
    assert set(terms) == {"loss", "recon", "kl", "elbo"}
    assert terms["loss"].item() == pytest.approx(terms["recon"].item() + terms["kl"].item(), rel=1e-5)


def test_logged_kl_coefficient_follows_the_warmup_during_training(make_cfg):
    """6 steps, warm-up over half of them: β = clamp(t / 3, 0.01, 1) is what train/kl_coeff logs."""
    cfg = make_cfg("nvae_small", "digits", [
        "trainer.max_epochs=1", "trainer.limit_train_batches=6", "trainer.limit_val_batches=1", "test=false",
        "trainer.log_every_n_steps=1", "model.kl_warmup=0.5", "model.kl_constant=0", "model.kl_min=0.01",
        "callbacks.image_grids=null", "logger=csv"], fast=False)
    run_cfg(cfg)
    import csv

    rows = list(csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")))
    logged = {int(r["step"]): float(r["train/kl_coeff"]) for r in rows if r.get("train/kl_coeff")}
    assert logged == pytest.approx({t: min(max(t / 3, 0.01), 1.0) for t in range(6)})
    groups = [k for k in rows[0] if k.startswith("train/kl_group_") and not k.endswith("_epoch")]
    assert len(groups) == 6 and "train/spectral" in rows[0]


def test_learning_rate_warms_up_then_decays_to_the_floor():
    model = small((1, 8, 8), lr_warmup=0.1, lr_min=1e-4)  # 100 schedule steps → 10 warm-up steps
    factors = [model.lr_factor(t, lr=1e-2) for t in range(101)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[100] == pytest.approx(1e-2)  # lr_min / lr
    assert factors[55] == pytest.approx(1e-2 + (1 - 1e-2) * 0.5, rel=1e-6)  # half-way down the cosine


def test_gradients_reach_every_latent_group():
    torch.manual_seed(0)
    model = small((1, 28, 28))
    model.train()
    terms = model.loss((torch.rand(4, 1, 28, 28).bernoulli(), None))
    terms["recon"].backward()  # the reconstruction alone must depend on every group's posterior
    for i, group in enumerate(model.net.dec):
        grad = group["posterior"].weight.grad
        assert grad is not None and grad.abs().sum() > 0, f"no gradient reaches group {i}'s posterior"
        if i > 0:
            assert group["prior"][1].weight.grad.abs().sum() > 0, f"no gradient reaches group {i}'s prior"
    assert all(p.grad is not None for n, p in model.named_parameters() if "enc_tower" in n)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 16, 16), (3, 32, 32), (1, 20, 24)])
def test_interface_pads_inside_and_returns_input_shapes(shape):
    torch.manual_seed(0)
    kind = "bernoulli" if shape[0] == 1 else "gaussian"  # gaussian data → discretised logistic mixture
    model = small(shape, likelihood=kind).eval()
    x = torch.rand(3, *shape)
    if kind == "bernoulli":
        x = x.bernoulli()
    else:
        x = (x * 255).round() / 255
    with torch.no_grad():
        assert model.reconstruct(x).shape == x.shape
        assert model.sample(5, temperature=0.7).shape == (5, *shape)
        z = model.encode(x)
        assert z.shape == (3, model.latent_dim)
        assert model.decode(z).shape == x.shape
    assert model.sample(2).min() >= 0 and model.sample(2).max() <= 1


def test_log_weights_are_the_joint_over_the_posterior_written_out():
    """log w = log p(x|z) + Σ_l log p(z_l|z_<l) − Σ_l log q(z_l|x,z_<l) (Vahdat & Kautz 2020, eq. 1 with the
    importance weights of Burda et al. 2015), recomputed with torch.distributions from the very draws the model
    made: a wrong sign, a missing group, the padded border in log p(x|z) or a k/batch mix-up all fail here."""
    torch.manual_seed(0)
    model = small((1, 20, 24)).eval()  # 20×24 is padded to 24×24: the crop matters
    x = torch.rand(3, 1, 20, 24).bernoulli()
    seen = []
    top_down = model.net.top_down

    def recording(*args, **kw):
        out = top_down(*args, **kw)
        seen.append(out)
        return out

    model.net.top_down = recording
    with torch.no_grad():
        lw = model.log_weights(x, k=4)
    (out, groups), = seen
    D = torch.distributions
    logits = out[..., 2:22, :]  # rows 2..21 of the 24 padded rows, all 24 columns
    want = D.Bernoulli(logits=logits.float()).log_prob(x.repeat(4, 1, 1, 1)).flatten(1).sum(1)
    for z, q, p in groups:
        want = want + D.Normal(p.mu, p.sigma).log_prob(z).flatten(1).sum(1)
        want = want - D.Normal(q.mu, q.sigma).log_prob(z).flatten(1).sum(1)
    assert len(groups) == 3 and lw.shape == (4, 3)
    torch.testing.assert_close(lw, want.view(4, 3), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("channels,bits", [(1, 2), (3, 1)])
def test_discretised_logistic_mixture_is_a_distribution(channels, bits):
    """exp(−nll) summed over every possible pixel value is 1 (incl. the channel-autoregressive shifts)."""
    torch.manual_seed(0)
    lik = LogisticMixture(channels, mixtures=3, bits=bits, value_range=(0.0, 1.0))
    out = torch.randn(1, lik.out_channels(channels), 1, 1)
    levels = torch.linspace(0, 1, 2**bits)
    values = torch.tensor(list(itertools.product(levels.tolist(), repeat=channels)))  # every colour
    x = values.view(-1, channels, 1, 1)
    p = torch.exp(-lik.nll(out.expand(len(x), -1, -1, -1), x))
    assert p.sum().item() == pytest.approx(1.0, abs=1e-4)
    mean = lik.mean(out)
    assert mean.shape == (1, channels, 1, 1) and 0 <= mean.min() and mean.max() <= 1


def test_power_iteration_finds_the_largest_singular_value():
    torch.manual_seed(0)
    net = torch.nn.Sequential(SRConv2d(3, 8, 3), SRConv2d(8, 8, 3), SRConv2d(8, 8, 5, groups=8))
    exact = sum(torch.linalg.matrix_norm(m.weight.flatten(1), 2) for m in net)
    assert spectral_norms(net, iterations=200).item() == pytest.approx(exact.item(), rel=1e-3)


def test_bad_hierarchy_is_a_user_error():
    with pytest.raises(UserError, match="post_blocks"):
        small((1, 28, 28), post_blocks=1)
    with pytest.raises(UserError, match="groups_per_scale"):
        small((1, 28, 28), groups_per_scale=[2, 2, 2])


def test_spectral_state_round_trips_through_a_checkpoint_and_resume(make_cfg):
    fit = ["trainer.max_epochs=1", "trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "test=false",
           "callbacks.image_grids=null"]
    cfg = make_cfg("nvae_small", "digits", fit, fast=False)
    run_cfg(cfg)
    ckpt_path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    state = ckpt["state_dict"]
    model = hydra.utils.instantiate(cfg.model)
    convs = {n: m for n, m in model.named_modules() if isinstance(m, SRConv2d)}
    assert convs and all(f"{n}.sr_u" in state and f"{n}.sr_v" in state for n in convs)
    assert not torch.equal(convs["net.stem"].sr_u, state["net.stem.sr_u"])  # a fresh model differs …
    model.load_state_dict(state)
    est_sum = exact_sum = 0.0
    for n, m in convs.items():  # … the loaded one carries the trained power-iteration state
        assert torch.equal(m.sr_u, state[f"{n}.sr_u"]) and torch.equal(m.sr_v, state[f"{n}.sr_v"])
        w = m.weight.detach().flatten(1)
        est, exact = (m.sr_u @ w @ m.sr_v).item(), torch.linalg.matrix_norm(w, 2).item()
        assert est <= exact * (1 + 1e-4)  # unit u, v: a lower bound on σ_max
        est_sum, exact_sum = est_sum + est, exact_sum + exact
    assert est_sum >= 0.8 * exact_sum  # 13 power steps in: most of the way there
    assert spectral_norms(model.net, update=False).item() == pytest.approx(est_sum, rel=1e-4)
    # resuming continues from the checkpoint's step with that state
    resume = make_cfg("nvae_small", "digits",
                      [*fit, "trainer.max_epochs=2", f"ckpt_path={ckpt_path}"], fast=False)
    run_cfg(resume)
    after = torch.load(Path(resume.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert after["global_step"] == 2 * ckpt["global_step"] == 6
    assert not torch.equal(after["state_dict"]["net.stem.sr_u"], state["net.stem.sr_u"])


def test_bf16_mixed_fast_dev_run_on_colour_data(make_cfg):
    cfg = make_cfg("nvae_small", "cifar10", ["trainer.precision=bf16-mixed"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert metrics["test/loss"] == pytest.approx(metrics["test/recon"] + metrics["test/kl"], rel=1e-5)
    # under bf16 autocast the per-image sums stay in float32: the same terms as a float32 pass, to a small
    # fraction of a nat (a bf16 sum of 768 pixel NLLs near 4,860 would be off by up to 16)
    torch.manual_seed(0)
    model = small((3, 16, 16), likelihood="gaussian").eval()
    x = (torch.rand(4, 3, 16, 16) * 255).round() / 255
    with torch.no_grad():
        torch.manual_seed(1)
        full = model.loss((x, None))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.manual_seed(1)
            mixed = model.loss((x, None))
    for key in ("recon", "kl"):
        assert mixed[key].dtype == torch.float32
        assert mixed[key].item() == pytest.approx(full[key].item(), abs=0.1), key


def test_batch_norm_converts_to_synchronised_and_stays_regularised():
    """trainer=ddp sets sync_batchnorm: Lightning swaps every BN for SyncBatchNorm (GPU only in torch)."""
    from lightning_ae.nets.nvae import batchnorm_scales

    model = small((1, 28, 28))
    before = batchnorm_scales(model.net).item()
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    bns = [m for m in synced.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(isinstance(m, torch.nn.SyncBatchNorm) for m in bns)
    assert batchnorm_scales(synced.net).item() == pytest.approx(before)


@pytest.mark.slow
def test_two_process_ddp(tmp_path):
    # torch's SyncBatchNorm needs CUDA: on CPU processes the BN statistics stay per process
    proc = run_cli(["model=nvae_small", "data=digits", "trainer=ddp", "trainer.accelerator=cpu",
                    "trainer.sync_batchnorm=false", "trainer.log_every_n_steps=1",
                    "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
                    "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
                    "callbacks.image_grids=null", "logger=csv"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = only_run_dir(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["test/loss"])
    assert "train/kl_group_0" in (run / "csv").rglob("metrics.csv").__next__().read_text()
