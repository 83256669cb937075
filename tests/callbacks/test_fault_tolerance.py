"""A NaN loss stops the run with one line naming the step and the term; the last good checkpoint stays."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_ae.errors import UserError
from lightning_ae.models.ae import AE
from tests.conftest import run_cfg


def test_nan_loss_names_step_and_term_and_keeps_last_good_checkpoint(make_cfg, monkeypatch):
    real_loss = AE.loss

    def poisoned(self, batch):
        terms = real_loss(self, batch)
        if self.training and self.global_step == 3:
            terms["recon"] = terms["recon"] * float("nan")
            terms["loss"] = terms["recon"]
        return terms

    monkeypatch.setattr(AE, "loss", poisoned)
    cfg = make_cfg("ae", "digits", ["trainer.max_epochs=1", "callbacks.last_checkpoint.every_n_train_steps=1",
                                    "evaluation.enabled=false"], fast=False)
    with pytest.raises(UserError, match=r"train/recon = nan at step 3 .*last\.ckpt"):
        run_cfg(cfg)
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_nan_in_the_first_of_two_logged_groups_is_caught(make_cfg, monkeypatch):
    """VQ-VAE logs its loss terms, then its codebook figures, in one step: a NaN in the loss must still stop the
    run (the check used to see only the last group logged)."""
    from lightning_ae.models.vqvae import VQVAE

    real_loss = VQVAE.loss

    def poisoned(self, batch):
        terms = real_loss(self, batch)
        if self.training and self.global_step == 2:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(VQVAE, "loss", poisoned)
    cfg = make_cfg("vqvae", "digits", ["trainer.max_epochs=1", "evaluation.enabled=false"], fast=False)
    with pytest.raises(UserError, match=r"train/loss = nan at step 2 "):
        run_cfg(cfg)
