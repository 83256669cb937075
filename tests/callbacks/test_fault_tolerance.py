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


def test_a_step_checkpoint_appears_only_after_its_batch_reached_the_loggers(tmp_path):
    """Lightning hands a batch's metrics to the loggers after the callbacks' batch end. A step checkpoint
    visible by then would let a SIGKILL leave a last.ckpt whose last row was never written (the resumed
    history would miss it for good): while a batch's row is written, last.ckpt still holds the previous step."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers.logger import Logger
    from torch.utils.data import DataLoader, TensorDataset

    from lightning_ae.callbacks import LastCheckpoint
    from lightning_ae.nets import MLP

    class Recorder(Logger):
        name, version, seen = "recorder", 0, []

        def log_hyperparams(self, *args, **kwargs):
            pass

        def log_metrics(self, metrics, step=None):
            ckpt = tmp_path / "last.ckpt"
            on_disk = torch.load(ckpt, weights_only=False)["global_step"] if ckpt.exists() else 0
            self.seen.append((trainer.global_step, on_disk))

    torch.manual_seed(0)
    model = AE(net=MLP(hidden=[8]), shape=[1, 4, 4], latent_dim=2)
    data = DataLoader(TensorDataset(torch.rand(24, 1, 4, 4), torch.zeros(24, dtype=torch.long)), batch_size=4)
    trainer = pl.Trainer(max_epochs=2, logger=Recorder(), log_every_n_steps=1, callbacks=[LastCheckpoint(str(tmp_path), 1)],
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, data)
    steps = [(g, disk) for g, disk in Recorder.seen if g > 1]
    assert steps and all(disk == g - 1 for g, disk in steps if g % 6)  # mid-epoch rows: the previous step's state
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 12  # committed at the end
    assert not (tmp_path / "last.ckpt.pending").exists()


@pytest.mark.parametrize("minutes, saved", [
    (1.0, [("pending", 3), ("pending", 6), ("pending", 9), ("pending", 12)]),  # a batch 25 s: due every 3rd batch
    (None, [("last", 12)]),   # no interval: the end of training only (epoch 1's end writes nothing)
    (10.0, [("last", 12)]),   # the interval never passes: likewise
])
def test_last_checkpoint_is_written_once_its_minutes_have_passed_and_at_the_end(tmp_path, monkeypatch, minutes, saved):
    """every_n_minutes: a save at the first batch end once that much time has passed since the last save; an
    epoch end that is not the last writes only when it is due; the last epoch always ends with last.ckpt."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lightning_ae.callbacks import LastCheckpoint, fault_tolerance
    from lightning_ae.nets import MLP

    now = [0.0]
    monkeypatch.setattr(fault_tolerance, "clock", lambda: now[0])

    class Clock(pl.Callback):
        def on_train_batch_start(self, *args):
            now[0] += 25.0

    torch.manual_seed(0)
    model = AE(net=MLP(hidden=[8]), shape=[1, 4, 4], latent_dim=2, fused_steps=1)
    data = DataLoader(TensorDataset(torch.rand(24, 1, 4, 4), torch.zeros(24, dtype=torch.long)), batch_size=4)
    trainer = pl.Trainer(max_epochs=2, logger=False, callbacks=[Clock(), LastCheckpoint(str(tmp_path), None, minutes)],
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    writes, save = [], trainer.save_checkpoint

    def recording(path, **kwargs):
        writes.append(("pending" if str(path).endswith(".pending") else "last", trainer.global_step))
        save(path, **kwargs)

    monkeypatch.setattr(trainer, "save_checkpoint", recording)
    trainer.fit(model, data)
    assert writes == saved
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 12
    assert not (tmp_path / "last.ckpt.pending").exists()
