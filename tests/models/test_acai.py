"""ACAI: both losses as the paper writes them, its conv net fits every image size, the lines recipe composes
and runs, DDP on 2 CPU processes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from lightning_ae.errors import UserError
from lightning_ae.nets.acai import ACAINet
from tests.conftest import compose_cfg, only_run_dir, run_cfg, run_cli
from tests.models.test_adversarial import assert_step_gradients, at_weights, build, one_batch

REPO = Path(__file__).resolve().parents[2]


def test_losses_and_gradients_follow_the_paper(make_cfg):
    """Eq. 1-2 of Berthelot et al. (2019), written out: α = 0.5 − |u − 0.5|, the critic regresses α on
    interpolants and 0 on the γ-blend of data and reconstruction; the autoencoder adds λ·‖d(x̂_α)‖²."""
    lam, gamma = 0.7, 0.3  # not the defaults, so that a hard-coded weight shows
    model = build(make_cfg, "acai", [f"model.lam={lam}", f"model.gamma={gamma}"])
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    rec = one_batch(model, x, seed=5)
    ref = at_weights(model, rec.weights[0])  # every loss of the batch is on the initial weights

    torch.manual_seed(5)
    u = torch.rand(6)
    alpha = 0.5 - (u - 0.5).abs()
    assert 0 <= alpha.min() and alpha.max() <= 0.5
    z = ref.encoder(x)
    x_hat = torch.sigmoid(ref.decoder(z))  # digits: bernoulli likelihood, images are probabilities
    x_mix = torch.sigmoid(ref.decoder(alpha[:, None] * z + (1 - alpha[:, None]) * z.flip(0)))
    d = ref.critic
    l_ae = (x_hat - x).pow(2).mean() + lam * d(x_mix).pow(2).mean()
    l_critic = (d(x_mix.detach()) - alpha).pow(2).mean() + d(gamma * x + (1 - gamma) * x_hat.detach()).pow(2).mean()

    terms = model.last_train_terms
    torch.testing.assert_close(terms["ae"], l_ae.detach())
    torch.testing.assert_close(terms["critic"], l_critic.detach())
    assert_step_gradients(rec.grads[0], l_ae, ref, ("encoder", "decoder"))
    assert_step_gradients(rec.grads[1], l_critic, ref, ("critic",))


@pytest.mark.parametrize("shape, scales, grid", [((1, 8, 8), 1, (4, 4)), ((1, 28, 28), 3, (4, 4)),
                                                  ((3, 32, 32), 3, (4, 4)), ((3, 16, 24), 2, (4, 6))])
def test_net_round_trips_every_size(shape, scales, grid):
    net = ACAINet(depth=4)
    assert net.layout(shape)[0] == scales and net.layout(shape)[2] == grid
    enc, dec = net.encoder(shape, 32), net.decoder(32, shape)
    z = enc(torch.randn(2, *shape))
    assert z.shape == (2, 32) and dec(z).shape == (2, *shape)


def test_latent_is_the_paper_grid_when_sizes_divide():
    enc = ACAINet(depth=4, latent_size=2).encoder((1, 32, 32), 64)  # 16 channels on 2x2: no linear layer
    assert not any(isinstance(m, torch.nn.Linear) for m in enc.modules())
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in enc.modules()) == 4


def test_size_the_depth_cannot_divide_is_a_user_error():
    with pytest.raises(UserError, match="not divisible"):
        ACAINet(scales=3, pad=False).encoder((1, 28, 28), 16)


def test_other_models_use_the_acai_net(make_cfg):
    cfg = make_cfg("vae", "mnist", extra=["model/net=acai", "model.net.depth=4", "evaluation.enabled=false"])
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in hydra.utils.instantiate(cfg.model).encoder.modules())
    run_cfg(cfg)
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert m["test/loss"] == pytest.approx(m["test/recon"] + m["test/kl"], rel=1e-5)  # β = 1: −ELBO
    assert m["test/elbo"] == pytest.approx(-m["test/loss"], rel=1e-6)


@pytest.mark.parametrize("acai, ae", [("acai_lines", "ae_lines"), ("acai_lines_paper", "ae_lines_paper")])
def test_the_lines_baseline_has_acais_net_data_optimizer_and_epochs(acai, ae, tmp_path):
    """The claim is ACAI against an AE with the same net and the same batches: only the critic differs."""
    a, b = (compose_cfg([f"experiment={e}"], tmp_path / e) for e in (acai, ae))
    assert a.model._target_.endswith("ACAI") and b.model._target_.endswith(".AE")
    for key in ("data", "optimizer", "model.net", "model.latent_dim", "trainer.max_epochs"):
        assert OmegaConf.select(a, key) == OmegaConf.select(b, key), key


def test_lines_experiment(make_cfg, tmp_path):
    recipe = compose_cfg(["experiment=acai_lines_paper"], tmp_path / "recipe")
    assert recipe.data._target_.endswith("LinesDataModule") and recipe.model._target_.endswith("ACAI")
    assert (recipe.model.lam, recipe.model.gamma, recipe.data.batch_size) == (0.5, 0.2, 64)
    assert recipe.optimizer.lr == recipe.model.critic_optimizer.lr == 1e-4
    net = ACAINet(**{k: v for k, v in recipe.model.net.items() if k != "_target_"})
    assert net.layout((1, 32, 32))[2] == (2, 2)
    cfg = make_cfg("acai", "lines", extra=["experiment=acai_lines", "evaluation.enabled=false"])  # tiny data
    run_cfg(cfg)
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    # Gaussian likelihood, σ = model.likelihood_std, D pixels: NLL = D·mse / (2σ²) + D·log(σ√(2π)) per image
    d, std = 32 * 32, cfg.model.likelihood_std
    assert m["test/loss"] == pytest.approx(d * m["test/mse"] / (2 * std**2) + d * math.log(std * math.sqrt(2 * math.pi)),
                                           rel=1e-4)


class WeightsAgree(pl.Callback):
    """Each DDP rank writes a fingerprint of its weights at the end of fit (used by the 2-process test)."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_fit_end(self, trainer, pl_module):
        flat = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        torch.save({"weights": flat, "global_step": trainer.global_step, "batches": trainer.num_training_batches},
                   self.path / f"rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_two_cpu_processes(tmp_path):
    proc = run_cli(["model=acai", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=1",
                    "data.batch_size=64", "trainer.enable_progress_bar=false", "evaluation.enabled=false",
                    "+callbacks.agree._target_=tests.models.test_acai.WeightsAgree", f"+callbacks.agree.path={tmp_path}"],
                   cwd=tmp_path, env={"PYTHONPATH": str(REPO)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert torch.equal(r0["weights"], r1["weights"])  # gradients were averaged across ranks at every step
    assert r0["global_step"] == r1["global_step"] == 2 * r0["batches"]  # 2 optimizer steps per batch
    assert "test/loss" in json.loads((only_run_dir(tmp_path / "outputs") / "metrics.json").read_text())


TABLE1 = ("ae", "dae", "vae", "vqvae", "acai")


def test_table1_rows_share_net_latent_data_optimizer_and_budget(tmp_path):
    """Berthelot et al. 2019, Table 1 on our machine: one recipe (lines_paper_recipe.yaml) for every row, so only the
    model differs: the paper's net at depth 16 with a 2x2 grid of 16 channels, fresh lines, Adam 1e-4, batch 64."""
    cfgs = {m: compose_cfg([f"experiment={m}_lines_paper"], tmp_path / m) for m in TABLE1}
    for m, c in cfgs.items():
        for key in ("data", "optimizer", "trainer.max_epochs", "model.net.depth", "model.net.latent_size"):
            assert OmegaConf.select(c, key) == OmegaConf.select(cfgs["ae"], key), (m, key)
        assert c.data.fresh and c.data.batch_size == 64 and c.optimizer.lr == 1e-4
        net = hydra.utils.instantiate(c.model.net)
        assert net.layout((1, 32, 32))[2] == (2, 2)
        grid_numbers = c.model.latent_dim * (4 if m == "vqvae" else 1)  # VQ-VAE: D per cell of the 2x2 grid
        assert grid_numbers == 64, m
    assert (cfgs["acai"].model.lam, cfgs["acai"].model.gamma) == (0.5, 0.2)
    assert cfgs["dae"].model.std == 1.0  # official denoising.py --noise


def test_table2_rows_share_the_recipe(tmp_path):
    a, b = (compose_cfg([f"experiment={m}_mnist_paper"], tmp_path / m) for m in ("acai", "ae"))
    for key in ("data", "optimizer", "model.net", "model.latent_dim", "trainer.max_epochs"):
        assert OmegaConf.select(a, key) == OmegaConf.select(b, key), key
    assert list(a.data.value_range) == [-1.0, 1.0] and a.model.latent_dim == 256
    assert ACAINet(**{k: v for k, v in a.model.net.items() if k != "_target_"}).layout((1, 28, 28)) == (3, (32, 32), (4, 4))


@pytest.mark.parametrize("model", ["vqvae", "vae"])
def test_table1_recipes_train_and_score_interpolations(model, make_cfg):
    cfg = make_cfg(model, "lines", extra=[f"experiment={model}_lines_paper", "model.net.depth=4",
                                          "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                          "evaluation=interpolation", "evaluation.lines.pairs=8"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert math.isfinite(metrics["eval/lines/mean_distance"]) and math.isfinite(metrics["eval/lines/end_angle_error_deg"])


def test_report_rows_train_the_recipes_budget():
    """benchmarks/report.py overrides trainer.max_epochs with a row's epochs: the Table 1 and 2 rows must keep the
    budget their shared recipe states, and every row a claim refers to exists."""
    from benchmarks.report import ROWS_CPU

    rows = {r.name: r for r in ROWS_CPU}
    for prefix, recipe in (("t1_", "lines_paper_recipe"), ("t2_", "mnist_paper_recipe")):
        budget = OmegaConf.load(REPO / f"conf/experiment/{recipe}.yaml").trainer.max_epochs
        chosen = [r for name, r in rows.items() if name.startswith(prefix)]
        assert len(chosen) == (5 if prefix == "t1_" else 2) and all(r.epochs == budget for r in chosen)
        for r in chosen:
            refs = [v for v in [r.target and r.target[1], *r.baselines.values(), *(c[2] for c in r.extra_checks)]
                    if isinstance(v, str) and ":" in v]
            assert all(ref.split(":")[0] in rows for ref in refs), r.name
