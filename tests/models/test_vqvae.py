"""VQ-VAE: quantiser maths, EMA codebook, dead-code restarts, float32 under bf16, logging, DDP codebook sync."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import torch

from lightning_ae.models.vqvae import VQVAE
from lightning_ae.nets.vq import ResBlock, VectorQuantizer, VQConv
from tests.conftest import run_cfg

ROOT = Path(__file__).resolve().parents[2]


def _grid(flat: torch.Tensor, b: int, h: int, w: int) -> torch.Tensor:
    """Rows [b·h·w, D] → a grid [b, D, h, w] (the quantiser's layout)."""
    return flat.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()


def test_residual_block_skip_path_carries_x_unchanged():
    block = ResBlock(4, 3, "relu")
    last = block.body[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    x = torch.randn(2, 4, 5, 5)  # half the entries negative: relu(x) != x
    assert torch.equal(block(x.clone()), x)


def test_straight_through_gradient_is_the_decoders_gradient_at_z_q():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 4, ema=False, restart_dead=False, data_init=False)
    decoder = torch.nn.Conv2d(4, 2, 1)
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = vq(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    nearest = torch.cdist(flat, vq.codebook.detach()).argmin(1)
    assert torch.equal(out["indices"].reshape(-1), nearest)
    z_q = _grid(vq.codebook.detach()[nearest], 2, 3, 3).requires_grad_(True)
    assert torch.allclose(out["z_q"], z_q, atol=1e-6)  # z_e + (z_q − z_e): equal up to rounding
    decoder(out["z_q"]).pow(2).sum().backward()
    decoder(z_q).pow(2).sum().backward()
    assert torch.allclose(z_e.grad, z_q.grad)


def test_codebook_and_commitment_terms_are_means_with_their_gradients():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 3, ema=False, restart_dead=False, data_init=False)
    z_e = torch.randn(2, 3, 2, 2, requires_grad=True)
    out = vq(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)  # 8 rows
    e = vq.codebook.detach()[out["indices"].reshape(-1)]
    per_image = (flat - e).pow(2).view(2, 4 * 3).mean(1)  # mean over D·h·w = 12 entries
    assert torch.allclose(out["commitment"], per_image) and torch.allclose(out["codebook"], per_image)
    out["codebook"].mean().backward()
    expected = torch.zeros(4, 3).index_add_(0, out["indices"].reshape(-1), 2 * (e - flat) / flat.numel())
    assert torch.allclose(vq.codebook.grad, expected)


def test_ema_step_follows_the_formula_on_two_codes():
    gamma, eps = 0.9, 1e-5
    vq = VectorQuantizer(2, 2, ema=True, decay=gamma, eps=eps, restart_dead=False, data_init=False)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
    vq.ema_sum.copy_(vq.codebook)
    flat = torch.tensor([[1.0, -1.0], [0.5, 0.0], [-1.0, 2.0], [4.0, 6.0]])  # three to code 0, one to code 1
    vq.train()
    vq(_grid(flat, 1, 1, 4))
    n = torch.tensor([3.0, 1.0])
    count = gamma * 1.0 + (1 - gamma) * n
    m = gamma * torch.tensor([[0.0, 0.0], [5.0, 5.0]]) + (1 - gamma) * torch.stack([flat[:3].sum(0), flat[3]])
    smoothed = (count + eps) / (count.sum() + 2 * eps) * count.sum()
    assert torch.allclose(vq.ema_count, count) and torch.allclose(vq.ema_sum, m)
    assert torch.allclose(vq.codebook, m / smoothed.unsqueeze(1))
    vq.eval()
    frozen = vq.codebook.clone()
    vq(_grid(flat + 1.0, 1, 1, 4))
    assert torch.equal(vq.codebook, frozen)  # no update outside training


def _tiny_vqvae(**kwargs) -> VQVAE:
    net = VQConv(hidden=8, res_hidden=4, res_blocks=1, downsample=1)
    return VQVAE(net, shape=[1, 8, 8], latent_dim=3, num_codes=6, restart_dead=False, **kwargs)


@pytest.mark.parametrize("ema", [False, True])
def test_loss_is_normalised_mse_plus_mean_codebook_and_commitment(ema):
    torch.manual_seed(0)
    model = _tiny_vqvae(beta=0.25, ema=ema, likelihood="bernoulli").eval()
    x = torch.rand(4, 1, 8, 8)
    terms = model.loss((x, None))
    with torch.no_grad():
        z_e = model.encoder(x)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
        codes = model.quantizer.codebook[torch.cdist(flat, model.quantizer.codebook).argmin(1)]
        x_hat = torch.sigmoid(model.decoder(_grid(codes, 4, 4, 4)))
    recon = ((x_hat - x) ** 2).mean() / x.var()
    sq = ((flat - codes) ** 2).mean()
    codebook = torch.tensor(0.0) if ema else sq
    assert torch.allclose(terms["recon"], recon, rtol=1e-5)
    assert torch.allclose(terms["commitment"], sq, rtol=1e-5) and torch.allclose(terms["codebook"], codebook, rtol=1e-5)
    assert torch.allclose(terms["loss"], recon + codebook + 0.25 * sq, rtol=1e-5)
    model.loss((x * 0.5, None))  # the variance is the first batch's, then fixed
    assert torch.allclose(model.data_variance, x.var())


def test_dead_codes_restart_on_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 3, ema=True, decay=0.5, restart_dead=True, dead_threshold=0.01, data_init=False)
    z = torch.randn(4, 3, 2, 2) + 10.0  # far from every initial code: a single code gets all the traffic
    vq.train()
    restarted = False
    for _ in range(12):
        out = vq(z)
        restarted |= len(out["indices"].unique()) > 1
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)
    near_data = torch.cdist(vq.codebook, flat).min(1).values < 0.1
    assert restarted and near_data.sum() > 1  # unused codes moved onto encoder outputs and got used


def test_distances_stay_float32_under_bf16_autocast():
    torch.manual_seed(0)
    vq = VectorQuantizer(64, 8, ema=True).eval()
    vq.codebook.copy_(torch.randn(64, 8))
    z = vq.codebook[torch.randint(64, (256,))] + 1e-3 * torch.randn(256, 8)  # nearly on codes: ties in bf16
    z = z.view(4, 8, 8, 8).permute(0, 3, 1, 2).contiguous()
    ref = vq.indices(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(vq.indices(z), ref)
        out = vq(z)
    assert out["commitment"].dtype == torch.float32


@pytest.mark.parametrize("size", [(28, 28), (8, 8), (30, 22), (7, 9)])
def test_grid_net_round_trips_any_size(size):
    spec = VQConv(hidden=8, res_hidden=4, res_blocks=1, downsample=2)
    shape = (3, *size)
    z = spec.encoder(shape, 5)(torch.randn(2, *shape))
    assert tuple(z.shape[2:]) == spec.grid(shape)
    assert spec.decoder(5, shape)(z).shape == (2, *shape)


def test_data_variance_comes_back_from_a_checkpoint_not_from_the_next_batch():
    torch.manual_seed(0)
    trained = _tiny_vqvae().eval()
    x = torch.rand(4, 1, 8, 8)
    trained.loss((x, None))
    resumed = _tiny_vqvae().eval()
    resumed.load_state_dict(trained.state_dict())
    terms = resumed.loss((0.1 * x, None))
    assert resumed.data_variance == x.var()
    assert torch.isclose(terms["recon"], (resumed.reconstruct(0.1 * x) - 0.1 * x).pow(2).mean() / x.var())


def test_bf16_run_keeps_the_codebook_terms_float32(make_cfg):
    cfg = make_cfg("vqvae", "digits", ["trainer.precision=bf16-mixed", "model.num_codes=16"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert all(torch.isfinite(torch.tensor(metrics[k])) for k in ("test/loss", "test/recon", "test/commitment"))


def test_split_perplexity_and_dead_share_are_those_of_all_the_splits_indices():
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = _tiny_vqvae(likelihood="bernoulli")
    with torch.no_grad():  # codes spread over encoder outputs, one left far away (dead)
        z = model.encoder(torch.rand(8, 1, 8, 8)).permute(0, 2, 3, 1).reshape(-1, 3)
        model.quantizer.codebook.copy_(torch.cat([z[torch.randperm(len(z))[:5]], torch.full((1, 3), 1e3)]))
    x = torch.rand(40, 1, 8, 8)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(model, DataLoader(TensorDataset(x, torch.zeros(40)), batch_size=16))
    counts = torch.bincount(model.code_indices(x).reshape(-1), minlength=6).double()
    p = counts[counts > 0] / counts.sum()
    assert torch.isclose(trainer.callback_metrics["test/perplexity"], torch.exp(-(p * p.log()).sum()).float())
    assert trainer.callback_metrics["test/dead_codes"] == (counts == 0).double().mean().float()
    assert counts[5] == 0 and (counts > 0).sum() > 1


def test_codes_decode_like_the_quantised_encoding(make_cfg):
    import hydra

    cfg = make_cfg("vqvae", "digits", ["model.num_codes=16"])
    model, dm = hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.data)
    trainer = pl.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, dm)
    x = dm.tensors("test")[0][:3]
    idx = model.eval().code_indices(x)
    assert torch.equal(model.decode_indices(idx), model.decode(model.encode(x)))
    # the first training batch placed the codes on encoder outputs: more than one code is in use
    assert len(model.code_indices(dm.tensors("train")[0][:64]).unique()) > 1


# -- DDP: every rank holds the same codebook ---------------------------------------------------------
class DumpCodebook(pl.Callback):
    """Test-only: each rank saves its quantiser state right after every training step (before anything else,
    e.g. DDP's buffer broadcast at the next forward, could make the ranks agree) and a fingerprint of its data."""

    def __init__(self, dirpath: str, disable_sync: bool = False):
        self.dirpath, self.steps = Path(dirpath), []
        if disable_sync:  # only to check by hand that this test fails when ranks do not sync
            import lightning_ae.nets.vq as vq

            vq._distributed = lambda: False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        q = pl_module.quantizer
        self.steps.append({"codebook": q.codebook.detach().cpu().clone(), "ema_count": q.ema_count.cpu().clone(),
                           "usage": q.usage.cpu().clone(), "data": batch[0].sum().item()})

    def on_train_end(self, trainer, pl_module):
        self.dirpath.mkdir(parents=True, exist_ok=True)
        torch.save({"steps": self.steps, "world": trainer.world_size}, self.dirpath / f"rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_ddp_ranks_hold_the_same_codebook(tmp_path):
    dump = tmp_path / "dump"
    args = ["model=vqvae", "data=digits", "data.batch_size=32", "model.num_codes=32", "model.latent_dim=8",
            "model.net.hidden=16", "model.net.res_hidden=8", "model.net.res_blocks=1", "model.dead_threshold=0.5",
            "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=1",
            "trainer.limit_train_batches=6", "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "test=false", "logger=none", "callbacks=none",
            "model.fused_steps=1",  # the dump callback looks after every step
            f"+callbacks.dump._target_={__name__}.DumpCodebook", f"+callbacks.dump.dirpath={dump}",
            f"hydra.run.dir={tmp_path / 'run'}"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "lightning_ae", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(dump / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["world"] == 2 and len(ranks[0]["steps"]) == len(ranks[1]["steps"]) == 6
    for a, b in zip(ranks[0]["steps"], ranks[1]["steps"]):
        assert a["data"] != b["data"]  # each rank saw its own shard of the data …
        for key in ("codebook", "ema_count", "usage"):  # … yet after every step the statistics and codes agree
            assert torch.equal(a[key], b[key]), key
    assert not torch.allclose(ranks[0]["steps"][-1]["ema_count"], torch.ones(32))  # the EMA did run


def test_the_decoder_output_is_linear_as_the_references_mse_needs(make_cfg):
    """Regression: with a sigmoid output (the bernoulli default of MNIST) the MSE / variance loss saturates at the
    black background and the model stops learning at NMSE ≈ 1.17 (mean(x²)/Var[x]); the reference decodes linearly."""
    cfg = make_cfg("vqvae", "mnist")
    assert cfg.data.likelihood == "bernoulli" and cfg.model.likelihood == "gaussian"
    model = hydra.utils.instantiate(cfg.model)
    z = torch.randn(2, model.latent_dim, *model.grid)
    assert torch.equal(model.decode(z), model.decoder(z))


def test_interpolation_quantises_blends_of_the_encoder_outputs():
    """ACAI's VQ-VAE baseline (brain-research/acai lib/train.py + vqvae.py): blend z_e, quantise, decode. Every
    decoded image is then the decoding of some code grid, which a blend of two code grids z_q would not be."""
    torch.manual_seed(0)
    model = _tiny_vqvae().eval()
    x1, x2 = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        ze = model.encoder(torch.cat([x1, x2])).permute(0, 2, 3, 1).reshape(-1, 3)
        model.quantizer.codebook.copy_(ze[torch.randperm(len(ze))[:6]])  # codes among the encoder outputs
        assert len(model.code_indices(torch.cat([x1, x2])).unique()) >= 3
        ze1, ze2 = model.encoder(x1), model.encoder(x2)
        paths = model.interpolate(x1, x2, steps=5)
        for k, a in enumerate(torch.linspace(0, 1, 5)):
            z = (1 - a) * ze1 + a * ze2
            dist = ((z.permute(0, 2, 3, 1)[..., None, :] - model.quantizer.codebook) ** 2).sum(-1)
            codes = model.quantizer.lookup(dist.argmin(-1))  # the nearest code of every grid vector, written out
            torch.testing.assert_close(paths[:, k], model.decode(codes))
        blend_of_codes = model.decode(0.5 * model.encode(x1) + 0.5 * model.encode(x2))
        assert not torch.allclose(paths[:, 2], blend_of_codes)


def test_vqvae_runs_on_acais_net_with_the_paper_grid():
    from lightning_ae.nets.acai import ACAIGrid

    model = VQVAE(ACAIGrid(depth=4, latent_size=2), shape=[1, 32, 32], latent_dim=16, num_codes=8)
    assert model.grid == (2, 2)
    assert model.encode(torch.rand(3, 1, 32, 32)).shape == (3, 16, 2, 2)
