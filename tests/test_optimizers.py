"""`optimizer=`, `optimizer.*` and `scheduler=` reach every variant's optimizers; each extra optimizer is a
named model key that follows the main one; a group a model cannot use is one line, never ignored."""
from __future__ import annotations

import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lightning_ae import config_options
from lightning_ae.errors import UserError
from tests.conftest import compose_cfg

#: per variant, its extra optimizer keys in the order configure_optimizers returns them (after the main one)
EXTRA = {"acai": ("critic_optimizer",), "vaegan": ("decoder_optimizer", "discriminator_optimizer"),
         "alae": ("generator_optimizer",)}
#: the networks each optimizer of a variant trains, main one first (the papers' split)
NETWORKS = {"acai": (("encoder", "decoder"), ("critic",)),
            "vaegan": (("encoder",), ("decoder",), ("discriminator",)),
            "alae": (("encoder", "discriminator"), ("mapping", "generator"))}
MODELS = config_options("model")


@pytest.fixture(scope="module")
def vqvae_ckpt(tmp_path_factory):
    """A checkpoint of an untrained model=vqvae, as model=vqvae_prior needs one."""
    root = tmp_path_factory.mktemp("vqvae")
    cfg = compose_cfg(["model=vqvae"], root)
    path = root / "vqvae.ckpt"
    torch.save({"lightning_ae": {"config": {"model": OmegaConf.to_container(cfg.model, resolve=True)}},
                "state_dict": instantiate(cfg.model).state_dict()}, path)
    return path


def build(model_name: str, overrides: list[str], tmp_path, vqvae_ckpt=None):
    """Compose, build the model and call its configure_optimizers(): (model, its optimizers, main one first)."""
    extra = {"vqvae_prior": [f"model.vqvae_ckpt={vqvae_ckpt}"]}.get(model_name, [])
    if model_name.startswith("nvae"):
        extra.append("model.schedule_steps=10")  # the schedule's length without a trainer
    cfg = compose_cfg([f"model={model_name}", *extra, *overrides], tmp_path)
    model = instantiate(cfg.model)
    out = model.configure_optimizers()
    if isinstance(out, torch.optim.Optimizer):
        return model, [out]
    return model, [out["optimizer"]] if isinstance(out, dict) else list(out[0])


def built_optimizers(model_name: str, overrides: list[str], tmp_path, vqvae_ckpt=None) -> list[torch.optim.Optimizer]:
    return build(model_name, overrides, tmp_path, vqvae_ckpt)[1]


def lrs(opts) -> list[float]:
    """Each optimizer's configured lr (NVAE's LambdaLR has already scaled `lr` by its warm-up factor)."""
    return [opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"]) for opt in opts]


def test_every_model_is_covered(tmp_path):
    for name in MODELS:
        keys = [k for k in compose_cfg([f"model={name}"], tmp_path).model if str(k).endswith("_optimizer")]
        assert tuple(keys) == EXTRA.get(name, ()), f"model={name}: extra optimizer keys {keys}"


@pytest.mark.parametrize("name", MODELS)
def test_lr_reaches_every_optimizer(name, tmp_path, vqvae_ckpt):
    opts = built_optimizers(name, ["optimizer.lr=0.0123"], tmp_path, vqvae_ckpt)
    assert lrs(opts) == [0.0123] * (1 + len(EXTRA.get(name, ())))
    own = [f"model.{key}.lr={0.001 * (i + 2)}" for i, key in enumerate(EXTRA.get(name, ()))]
    opts = built_optimizers(name, ["optimizer.lr=0.0123", *own], tmp_path, vqvae_ckpt)
    assert lrs(opts) == [0.0123] + [0.001 * (i + 2) for i in range(len(own))]


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_each_extra_key_sets_the_optimizer_of_its_networks(name, tmp_path):
    own = {key: 0.001 * (i + 2) for i, key in enumerate(EXTRA[name])}
    model, opts = build(name, ["optimizer.lr=0.0123", *(f"model.{k}.lr={v}" for k, v in own.items())], tmp_path)
    for lr, networks in zip([0.0123, *own.values()], NETWORKS[name]):
        (opt,) = [o for o in opts if o.param_groups[0]["lr"] == lr]
        trained = {id(p) for group in opt.param_groups for p in group["params"]}
        assert trained == {id(p) for net in networks for p in getattr(model, net).parameters()}, networks


@pytest.mark.parametrize("name", MODELS)
def test_a_sweep_over_lr_builds_different_optimizers(name, tmp_path, vqvae_ckpt):
    sweep = OverridesParser.create().parse_override("optimizer.lr=1e-3,1e-4")
    jobs = [lrs(built_optimizers(name, [f"optimizer.lr={v}"], tmp_path, vqvae_ckpt))
            for v in sweep.sweep_string_iterator()]
    n = 1 + len(EXTRA.get(name, ()))
    assert jobs == [[1e-3] * n, [1e-4] * n]


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_optimizer_group_and_arguments_reach_the_extra_optimizers(name, tmp_path):
    opts = built_optimizers(name, ["optimizer=adamw", "optimizer.weight_decay=0.25"], tmp_path)
    assert all(type(o) is torch.optim.AdamW and o.param_groups[0]["weight_decay"] == 0.25 for o in opts)


def test_paper_defaults_stay_overridable(tmp_path):
    alae = built_optimizers("alae", [], tmp_path)
    assert [(o.param_groups[0]["lr"], tuple(o.param_groups[0]["betas"])) for o in alae] == [(2e-4, (0.0, 0.99))] * 2
    alae = built_optimizers("alae", ["optimizer.betas=[0.5,0.9]"], tmp_path)
    assert [tuple(o.param_groups[0]["betas"]) for o in alae] == [(0.5, 0.9)] * 2
    (nvae,) = built_optimizers("nvae_small", [], tmp_path)
    group = nvae.param_groups[0]
    assert type(nvae) is torch.optim.Adamax and (group["initial_lr"], group["weight_decay"]) == (1e-2, 3e-4)
    (nvae,) = built_optimizers("nvae_small", ["optimizer=adam", "optimizer.lr=0.003"], tmp_path)
    assert type(nvae) is torch.optim.Adam and nvae.param_groups[0]["initial_lr"] == 0.003


def test_acai_recipe_sets_the_paper_lr(tmp_path):
    cfg = compose_cfg(["experiment=acai_lines_paper"], tmp_path)
    assert (cfg.optimizer.lr, cfg.model.critic_optimizer.lr) == (1e-4, 1e-4)


@pytest.mark.parametrize("name", [m for m in MODELS if not m.startswith("nvae")])  # NVAE: Adamax has no fused
def test_fused_adam_reaches_every_optimizer(name, tmp_path, vqvae_ckpt):
    n = 1 + len(EXTRA.get(name, ()))
    assert [o.param_groups[0]["fused"] for o in built_optimizers(name, [], tmp_path, vqvae_ckpt)] == [None] * n
    opts = built_optimizers(name, ["optimizer.fused=true"], tmp_path, vqvae_ckpt)
    assert [o.param_groups[0]["fused"] for o in opts] == [True] * n
    opts = built_optimizers(name, ["optimizer=adamw", "optimizer.fused=true"], tmp_path, vqvae_ckpt)
    assert [(type(o), o.param_groups[0]["fused"]) for o in opts] == [(torch.optim.AdamW, True)] * n


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_scheduler_reaches_every_optimizer(name, tmp_path):
    cfg = compose_cfg([f"model={name}", "scheduler=step", "scheduler.step_size=3"], tmp_path)
    opts, schedulers = instantiate(cfg.model).configure_optimizers()
    assert [(s.optimizer, s.step_size) for s in schedulers] == [(o, 3) for o in opts]


def test_nvae_refuses_a_scheduler_it_would_ignore(tmp_path):
    cfg = compose_cfg(["model=nvae_small", "scheduler=cosine"], tmp_path)
    with pytest.raises(InstantiationException) as err:
        instantiate(cfg.model)
    assert isinstance(err.value.__cause__, UserError)
    assert "CosineAnnealingLR would be ignored: use scheduler=none" in str(err.value.__cause__)
