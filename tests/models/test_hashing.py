"""Semantic-hashing autoencoder: binary codes, training relaxations, bf16, and the command line on a checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

from lightning_ae.errors import UserError
from tests.conftest import run_cfg


@pytest.fixture
def model(make_cfg):
    torch.manual_seed(0)
    return hydra.utils.instantiate(make_cfg("hashing", "digits", ["model.latent_dim=16"]).model)


def test_hash_codes_are_hard_bits_matching_the_sigmoid_threshold(model):
    x = torch.rand(6, 1, 8, 8)
    bits = model.eval().hash_codes(x)
    assert bits.dtype == torch.bool and bits.shape == (6, 16) and model.bits == 16
    assert torch.equal(bits, torch.sigmoid(model.encoder(x)) > 0.5)
    assert torch.equal(model.encode(x), bits.float())


def test_eval_loss_sees_hard_bits_and_training_a_relaxation(model):
    a = torch.randn(4, 16)
    model.eval()
    assert torch.equal(model.code(a), (a > 0).float())
    model.train()
    noisy = model.code(a)
    assert ((noisy > 0) & (noisy < 1)).all() and not torch.equal(noisy, model.code(a))  # noise before σ
    model.binarize = "straight_through"
    a.requires_grad_(True)
    st = model.code(a)
    assert torch.equal(st, (a > 0).float())  # hard forward
    st.sum().backward()
    assert torch.allclose(a.grad, torch.sigmoid(a) * (1 - torch.sigmoid(a)))  # σ' backward


def test_unknown_binarize_mode_is_refused(make_cfg):
    with pytest.raises(Exception) as err:
        hydra.utils.instantiate(make_cfg("hashing", "digits", ["model.binarize=sign"]).model)
    assert "binarize" in str(err.value)


@pytest.mark.parametrize("binarize", ["noise", "straight_through"])
def test_bf16_fast_dev_run(binarize, make_cfg):
    cfg = make_cfg("hashing", "digits", ["trainer.precision=bf16-mixed", f"model.binarize={binarize}"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert torch.isfinite(torch.tensor(metrics["test/loss"])) and 0 <= metrics["test/saturation"] <= 1


@pytest.mark.slow
def test_command_line_builds_an_index_from_a_checkpoint_and_reports(make_cfg, data_root, tmp_path, capsys):
    from lightning_ae.hashing import HashIndex
    from lightning_ae.hashing.__main__ import main

    cfg = make_cfg("hashing", "mnist", ["trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                        "trainer.limit_val_batches=1", "logger=none", "test=false"], fast=False)
    run_cfg(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    out = main(["--ckpt", str(ckpt), "--data-dir", str(data_root), "--baseline", "both", "--k", "10",
                "--save-index", str(tmp_path / "idx.npz"), "--json", str(tmp_path / "r.json")])
    printed = capsys.readouterr().out
    assert "queries/s" in printed and "precision within radius 2" in printed
    assert set(out) == {"model", "pca_sign", "lsh"}
    for r in out.values():
        assert r["bits"] == 32 and r["items"] == 96 and r["queries"] == 32  # tiny MNIST: train+val / test
    # the model's row, recomputed by brute force from its codes (Salakhutdinov & Hinton 2009, §5: Hamming
    # ranking with ties in database order; a query's radius-2 ball, an empty one scoring 0)
    from lightning_ae.hashing.__main__ import load, parse
    from lightning_ae.hashing.codes import as_bits

    model, db_x, db_y, qx, qy = load(parse(["--ckpt", str(ckpt), "--data-dir", str(data_root)]))
    with torch.no_grad():
        db, q = as_bits(model.hash_codes(db_x)).astype(int), as_bits(model.hash_codes(qx)).astype(int)
    aps, radius = [], []
    for code, label in zip(q, qy.tolist()):
        dist = (db != code).sum(1)
        ranked = sorted(range(len(db)), key=lambda i: (dist[i], i))
        rel = [int(db_y[i]) == label for i in ranked]
        hits = [sum(rel[: r + 1]) / (r + 1) for r in range(len(rel)) if rel[r]]
        aps.append(sum(hits) / len(hits) if hits else 0.0)
        ball = [int(db_y[i]) == label for i in range(len(db)) if dist[i] <= 2]
        radius.append(sum(ball) / len(ball) if ball else 0.0)
    assert out["model"]["map"] == pytest.approx(sum(aps) / len(aps), rel=1e-9)
    assert out["model"]["precision_radius"] == pytest.approx(sum(radius) / len(radius), rel=1e-9)
    assert json.loads((tmp_path / "r.json").read_text())["model"]["map"] == out["model"]["map"]
    assert len(HashIndex.load(tmp_path / "idx.npz")) == 96
    with pytest.raises(UserError):  # a checkpoint without hash codes
        vq = make_cfg("vqvae", "mnist", ["trainer.max_epochs=1", "trainer.limit_train_batches=1",
                                         "trainer.limit_val_batches=1", "logger=none", "test=false",
                                         "model.net.hidden=8", f"paths.output_dir={tmp_path / 'vq'}"], fast=False)
        run_cfg(vq)
        main(["--ckpt", str(tmp_path / "vq" / "checkpoints" / "last.ckpt"), "--data-dir", str(data_root)])
