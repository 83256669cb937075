"""What the three manually optimized variants (ACAI, VAE-GAN, ALAE) share.

- every optimizer step updates exactly the networks its paper says, in the paper's order;
- `trainer.global_step` counts optimizer steps (so `max_steps` = batches × steps per batch);
- a resumed run continues identically (weights, every optimizer's and scheduler's state);
- gradient clipping acts on each step's gradients; schedulers are stepped at epoch end;
- bf16-mixed trains through the app.

`one_batch` (used by the per-model loss tests) trains one batch with the global random state seeded at
batch start, so a test can redraw the model's noise (α, ε, z), and records every optimizer step's gradients
and the weights the step started from.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import run_cfg

# Per model: small-net overrides, and the networks each optimizer step changes, in order.
SMALL = {
    "acai": ["model.net.depth=4", "model.latent_dim=16"],
    "vaegan": ["model.net.hidden=[32]", "model.latent_dim=4", "model.disc_features=16"],
    "alae": ["model.net.hidden=[32]", "model.latent_dim=8", "model.disc_hidden=[16]"],
}
STEPS = {
    "acai": [{"encoder", "decoder"}, {"critic"}],
    "vaegan": [{"encoder"}, {"decoder"}, {"discriminator"}],
    "alae": [{"encoder", "discriminator"}, {"mapping", "generator"}, {"encoder"}, {"generator"}],
}
MODELS = list(STEPS)


def build(make_cfg, name: str, extra=()):
    cfg = make_cfg(name, "digits", extra=[*SMALL[name], *extra])
    return hydra.utils.instantiate(cfg.model)


def batches(n: int = 3, size: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n * size, 1, 8, 8, generator=g)
    # like the project's datamodules, a loader that does not draw from the global random state (which
    # checkpoints restore for the models' noise)
    return DataLoader(TensorDataset(x, torch.zeros(n * size, dtype=torch.long)), batch_size=size, shuffle=False,
                      generator=torch.Generator())


def trainer(**kw) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, **kw)


def subnets(model) -> dict[str, torch.nn.Module]:
    return {name: m for name, m in model.named_children() if name != "meters"}


class StepRecorder(pl.Callback):
    """Records, for every optimizer.step(), which sub-networks' weights it changed."""

    def __init__(self):
        self.changed: list[set[str]] = []
        self.grad_norms: list[float] = []

    def on_train_start(self, trainer, pl_module):
        nets = subnets(pl_module)
        before = {}

        def pre(opt, args, kwargs):
            before.update({k: [p.detach().clone() for p in m.parameters()] for k, m in nets.items()})

        def post(opt, args, kwargs):  # the gradients the step used (Lightning clips inside opt.step)
            grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
            self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
            self.changed.append({k for k, m in nets.items()
                                 if any(not torch.equal(a, p) for a, p in zip(before[k], m.parameters()))})

        for opt in trainer.optimizers:
            opt.register_step_pre_hook(pre)
            opt.register_step_post_hook(post)


class SeededSteps(pl.Callback):
    """Seeds the global RNG at batch start; per optimizer step: the weights before it and the gradients it used."""

    def __init__(self, seed: int):
        self.seed, self.grads, self.weights = seed, [], []

    def on_train_start(self, trainer, pl_module):
        names = {p: n for n, p in pl_module.named_parameters()}

        def pre(opt, args, kwargs):
            self.grads.append({names[p]: p.grad.clone() for g in opt.param_groups for p in g["params"]
                               if p.grad is not None})
            self.weights.append({n: p.detach().clone() for n, p in pl_module.named_parameters()})

        for opt in trainer.optimizers:
            opt.register_step_pre_hook(pre)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        torch.manual_seed(self.seed)


def one_batch(model, x: torch.Tensor, seed: int = 0) -> SeededSteps:
    """Train `model` on the single batch `x` with the RNG seeded to `seed` at batch start; returns the record."""
    rec = SeededSteps(seed)
    loader = DataLoader(TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=len(x))
    trainer(max_epochs=1, callbacks=[rec]).fit(model, loader)
    return rec


def at_weights(model, weights: dict[str, torch.Tensor]):
    """A copy of `model` with the given parameter values (e.g. those an optimizer step started from)."""
    ref = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in ref.named_parameters():
            p.copy_(weights[n])
    return ref


def assert_step_gradients(recorded: dict[str, torch.Tensor], loss: torch.Tensor, ref, prefixes: tuple[str, ...]):
    """The step's gradients are exactly those of `loss` (written out on `ref`) w.r.t. the networks `prefixes`."""
    params = {n: p for n, p in ref.named_parameters() if n.split(".")[0] in prefixes}
    assert set(recorded) == set(params)
    expected = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
    for (n, _), g in zip(params.items(), expected):
        torch.testing.assert_close(recorded[n], g, rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("name", MODELS)
def test_each_step_updates_only_its_networks(name, make_cfg):
    model = build(make_cfg, name)
    rec = StepRecorder()
    trainer(max_steps=len(STEPS[name]), callbacks=[rec]).fit(model, batches(1))
    assert rec.changed == STEPS[name]


@pytest.mark.parametrize("name", MODELS)
def test_global_step_counts_optimizer_steps(name, make_cfg):
    per_batch = len(STEPS[name])
    t = trainer(max_steps=2 * per_batch)
    t.fit(build(make_cfg, name), batches(5))
    assert t.fit_loop.epoch_loop.batch_progress.total.completed == 2  # max_steps = batches × steps per batch
    assert t.global_step == 2 * per_batch


@pytest.mark.parametrize("name", MODELS)
def test_resume_continues_identically(name, make_cfg, tmp_path):
    extra = ["scheduler=step", "scheduler.step_size=1"]  # a scheduler per optimizer, stepped each epoch
    torch.manual_seed(0)
    straight, t_straight = build(make_cfg, name, extra), trainer(max_epochs=2)
    t_straight.fit(straight, batches())

    torch.manual_seed(0)
    first, t_first = build(make_cfg, name, extra), trainer(max_epochs=1)
    t_first.fit(first, batches())
    ckpt = tmp_path / "half.ckpt"
    t_first.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)
    assert len(saved["optimizer_states"]) == len(saved["lr_schedulers"]) == len(t_first.optimizers) >= 2

    torch.manual_seed(1)  # resuming must not depend on the seed of the new process
    resumed, t_resumed = build(make_cfg, name, extra), trainer(max_epochs=2)
    t_resumed.fit(resumed, batches(), ckpt_path=ckpt)

    assert t_resumed.global_step == t_straight.global_step
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    for oa, ob in zip(t_straight.optimizers, t_resumed.optimizers):
        sa, sb = oa.state_dict(), ob.state_dict()
        assert sa["param_groups"][0]["lr"] == sb["param_groups"][0]["lr"]
        for i, state in sa["state"].items():
            assert all(torch.equal(v, sb["state"][i][key]) for key, v in state.items())


@pytest.mark.parametrize("name", MODELS)
def test_gradient_clipping_applies_to_every_step(name, make_cfg):
    rec = StepRecorder()
    trainer(max_steps=len(STEPS[name]), callbacks=[rec]).fit(build(make_cfg, name, ["model.grad_clip=1e-3"]),
                                                             batches(1))
    assert len(rec.grad_norms) == len(STEPS[name])
    assert all(0 < n <= 1e-3 * 1.001 for n in rec.grad_norms)


@pytest.mark.parametrize("name", MODELS)
def test_schedulers_step_at_epoch_end(name, make_cfg):
    t = trainer(max_epochs=2)
    t.fit(build(make_cfg, name, ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0.5"]), batches(1))
    for opt in t.optimizers:
        group = opt.param_groups[0]
        assert group["lr"] == pytest.approx(group["initial_lr"] * 0.25)


@pytest.mark.parametrize("name", MODELS)
def test_bf16_mixed_trains(name, make_cfg):
    cfg = make_cfg(name, "digits", extra=[*SMALL[name], "trainer.precision=bf16-mixed", "evaluation.enabled=false"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert "test/loss" in metrics and all(math.isfinite(v) for v in metrics.values())
