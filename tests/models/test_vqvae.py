"""VQ-VAE: quantiser maths, EMA codebook, dead-code restarts, float32 under bf16, logging, DDP codebook sync."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lightning_ae.nets.vq import VectorQuantizer, VQConv
from tests.conftest import run_cfg

ROOT = Path(__file__).resolve().parents[2]


def test_assignment_is_the_nearest_code_and_the_gradient_goes_straight_through():
    vq = VectorQuantizer(8, 4, ema=False, restart_dead=False, data_init=False)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = vq(z)
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.equal(out["indices"].reshape(-1), torch.cdist(flat, vq.codebook.detach()).argmin(1))
    assert torch.allclose(out["z_q"], vq.lookup(out["indices"]), atol=1e-6)  # forward value = code vectors
    out["z_q"].sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))  # straight-through: dz_q/dz_e = identity
    (out["codebook"].sum()).backward()
    assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0  # codebook term trains codes


def test_ema_update_moves_codes_toward_their_assigned_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 2, ema=True, decay=0.9, restart_dead=False, data_init=False)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
    vq.ema_sum.copy_(vq.codebook)
    targets = torch.tensor([[1.0, -1.0], [4.0, 6.0]])
    # a toy batch: 8 vectors near each target; [B=2, D=2, h=1, w=8]
    pts = torch.cat([targets[0] + 0.05 * torch.randn(8, 2), targets[1] + 0.05 * torch.randn(8, 2)])
    z = pts.view(2, 8, 2).permute(0, 2, 1).unsqueeze(2)
    before = (vq.codebook - targets).norm(dim=1)
    vq.train()
    vq(z)
    after_one = (vq.codebook - targets).norm(dim=1)
    assert (after_one < before).all()
    for _ in range(200):
        vq(z)
    means = torch.stack([pts[:8].mean(0), pts[8:].mean(0)])
    assert torch.allclose(vq.codebook, means, atol=1e-2)  # the fixed point is the mean of assigned outputs
    vq.eval()
    frozen = vq.codebook.clone()
    vq(z + 1.0)
    assert torch.equal(vq.codebook, frozen)  # no update outside training


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


def test_bf16_run_logs_codebook_figures(make_cfg):
    cfg = make_cfg("vqvae", "digits", ["trainer.precision=bf16-mixed", "model.num_codes=16"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    for key in ("test/loss", "test/perplexity", "test/dead_codes"):
        assert key in metrics and metrics[key] == metrics[key], key
    assert 1.0 <= metrics["test/perplexity"] <= 16.0 and 0.0 <= metrics["test/dead_codes"] < 1.0


def test_interface_and_training_figures(make_cfg):
    import hydra

    cfg = make_cfg("vqvae", "digits", ["model.num_codes=16"])
    model, dm = hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.data)
    trainer = pl.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, dm)
    for key in ("train/perplexity", "train/dead_codes", "val/perplexity", "val/dead_codes"):
        assert key in trainer.callback_metrics, key
    x = dm.tensors("test")[0][:3]
    idx = model.eval().code_indices(x)
    assert idx.dtype == torch.long and idx.shape == (3, *model.grid) and model.num_codes == 16
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
            "+trainer.limit_train_batches=6", "+trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "test=false", "logger=none", "callbacks=none",
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
