"""model.compile=true (issue #14): every network the variant calls is torch.compiled in place, and training
computes the same numbers as without it."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import nn

from lightning_ae import config_options
from tests.conftest import compose_cfg

#: float32: inductor fuses element-wise ops and may sum in another order; on the summed per-pixel terms of a
#: batch that moves the loss by a few units in the 6th digit at most
RTOL = 1e-5


@pytest.fixture
def compiler():
    """Skips where torch.compile cannot run; each test starts with no compiled graphs (as a fresh process)."""
    try:
        torch.compile(lambda x: x * 2)(torch.ones(2))
    except Exception as e:  # no C++ compiler, unsupported platform: say which
        pytest.skip(f"torch.compile cannot run on this machine: {type(e).__name__}: {str(e).splitlines()[0]}")
    torch.compiler.reset()


@pytest.fixture
def compiled_modules(monkeypatch) -> list[nn.Module]:
    """The modules `nn.Module.compile` is called on, in order."""
    calls, compile_module = [], nn.Module.compile
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: calls.append(self) or compile_module(self, *a, **k))
    return calls


def fit_one_batch(cfg) -> pl.LightningModule:
    """fast_dev_run (one training step) of cfg.model from the same initial weights and noise."""
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    trainer = pl.Trainer(fast_dev_run=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, datamodule=instantiate(cfg.data))
    return model


@pytest.mark.parametrize("name,networks", [("vae", ["encoder", "decoder"]),
                                           ("alae", ["mapping", "generator"])])  # E, D: ALAE.not_compiled
def test_compiled_model_trains_to_the_same_loss(name, networks, make_cfg, compiled_modules, compiler, caplog):
    plain = fit_one_batch(make_cfg(name))
    assert compiled_modules == []  # off by default
    compiled = fit_one_batch(make_cfg(name, extra=["model.compile=true"]))
    assert compiled_modules == [getattr(compiled, n) for n in networks]
    assert not [r for r in caplog.records if "recompile_limit" in r.getMessage()]  # no network fell back to eager
    for term, value in plain.last_train_terms.items():  # the first training step: same weights, same noise
        torch.testing.assert_close(compiled.last_train_terms[term], value, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", [m for m in config_options("model") if m != "vqvae_prior"])  # needs a ckpt
def test_every_network_is_compiled(name, tmp_path):
    """`networks()` reaches every parameter, except those a container without a forward uses directly
    (NVAE's learned top-down input h0) and the variant's `not_compiled` networks: nothing trained runs
    uncompiled behind an uncompiled container."""
    model = instantiate(compose_cfg([f"model={name}"], tmp_path).model)
    networks = list(model.networks())
    assert all(type(n).forward is not nn.Module.forward for n in networks)
    in_networks = {p for n in networks for p in n.parameters()}
    containers = {m for m in model.modules() if type(m).forward is nn.Module.forward}
    held_by_containers = {p for m in containers for p in m.parameters(recurse=False)}
    left_out = {p for n in model.not_compiled for p in getattr(model, n).parameters()}
    assert set(model.parameters()) == in_networks | held_by_containers | left_out
