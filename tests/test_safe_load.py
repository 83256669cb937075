"""Nothing executes on load (issue 23): crafted checkpoints through every entry point create no file, are refused
with one `error:` line and exit 2; `trust_checkpoint=true` is the only way to unpickle one in full."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from lightning_ae.errors import UserError, user_errors
from tests.conftest import compose_cfg, run_cfg, run_cli

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "logger=none"]
CONF = Path(__file__).parents[1] / "conf"


class CreatesFile:
    """Unpickling this object opens (creates) `path`: what a malicious checkpoint would do."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """The weights-only-readable checkpoint dict of a 1-epoch, 2-batch digits AE (built once per module)."""
    root = tmp_path_factory.mktemp("trained")
    run_cfg(compose_cfg(["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
                         "test=false", "evaluation.enabled=false", "callbacks.image_grids=null", *QUIET], root))
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)


def target_payload(kind: str, tmp: Path) -> dict:
    """A `_target_` node that, if built, creates tmp/marker or truncates tmp/victim."""
    marker = tmp / "marker"
    if kind == "builtins.open":
        return {"_target_": "builtins.open", "file": str(tmp / "victim"), "mode": "w"}
    if kind == "torch.load":
        torch.save({"x": CreatesFile(marker)}, tmp / "second.pt")
        return {"_target_": "torch.load", "f": str(tmp / "second.pt"), "weights_only": False}
    if kind == "os.system":
        return {"_target_": "os.system", "command": f"touch {marker}"}
    if kind == "subprocess.call":
        return {"_target_": "subprocess.call", "args": ["touch", str(marker)]}
    if kind == "partial":  # a _partial_ node is not called while building, but would be later: refused as well
        return {"_target_": "subprocess.call", "_partial_": True, "args": ["touch", str(marker)]}
    if kind == "attribute walk":  # an allowed module's import of torch, reached through getattr
        torch.save({"x": CreatesFile(marker)}, tmp / "second.pt")
        return {"_target_": "lightning_ae.models.vqvae_prior.torch.load", "f": str(tmp / "second.pt"),
                "weights_only": False}
    raise ValueError(kind)


PAYLOADS = ["pickle", "builtins.open", "torch.load", "os.system", "subprocess.call", "partial", "attribute walk"]


def crafted(trained: dict, kind: str, tmp: Path, vqvae: bool = False) -> Path:
    """A copy of the trained checkpoint carrying payload `kind`: a pickled object, or a `_target_` in its stored
    config (model.net, or model.optimizer for the partial one)."""
    import copy

    (tmp / "victim").write_text("precious")
    ckpt = copy.deepcopy(trained)
    config = ckpt["lightning_ae"]["config"]
    if vqvae:  # so that the prior's check for a VQ-VAE passes and the config is what gets built
        config["model"]["_target_"] = "lightning_ae.models.vqvae.VQVAE"
    if kind == "pickle":
        ckpt["payload"] = CreatesFile(tmp / "marker")
    else:
        config["model"]["optimizer" if kind == "partial" else "net"] = target_payload(kind, tmp)
    path = tmp / "crafted.ckpt"
    torch.save(ckpt, path)
    return path


def nothing_happened(tmp: Path) -> None:
    assert not (tmp / "marker").exists(), "the payload ran"
    assert (tmp / "victim").read_text() == "precious", "the payload truncated a file"


def refused(capsys, call, *needles) -> str:
    """`call` under the entry points' error handling: exit status 2 and one `error:` line."""
    with pytest.raises(SystemExit) as exit_info, user_errors():
        call()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([l for l in err if l.startswith("error:")]) == 1 and "Traceback" not in "\n".join(err), err
    line = next(l for l in err if l.startswith("error:"))
    for n in needles:
        assert n in line, line
    return line


def entry_points(path: Path, tmp: Path) -> dict:
    """Each entry point that reads a user's checkpoint, called in this process on `path`."""
    import lightning_ae
    from lightning_ae import eval as evaluation
    from lightning_ae.export import export
    from lightning_ae.hashing.__main__ import main as hashing_main

    run_dir = tmp / "run"
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return {
        "eval": lambda: evaluation.run(compose_cfg([f"ckpt_path={path}", "evaluation=fast", "logger=none"],
                                                   tmp / "eval", config_name="eval")),
        "train ckpt_path": lambda: run_cfg(compose_cfg([f"ckpt_path={path}", "trainer.max_epochs=2", *QUIET],
                                                       tmp / "train")),
        "resume=auto": lambda: (run_dir.joinpath("checkpoints", "last.ckpt").write_bytes(path.read_bytes()),
                                run_cfg(compose_cfg(["resume=auto", "trainer.max_epochs=2", *QUIET], run_dir))),
        "hashing --ckpt": lambda: hashing_main(["--ckpt", str(path), "--baseline", "none"]),
        "model.vqvae_ckpt": lambda: run_cfg(compose_cfg(["model=vqvae_prior", f"model.vqvae_ckpt={path}", *QUIET],
                                                        tmp / "prior")),
        "lightning_ae.load": lambda: lightning_ae.load(path),
        "export": lambda: export(path, tmp / "exported"),
    }


ENTRY_POINTS = ["eval", "train ckpt_path", "resume=auto", "hashing --ckpt", "model.vqvae_ckpt", "lightning_ae.load",
                "export"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("kind", PAYLOADS)
def test_a_crafted_checkpoint_runs_nothing(trained, tmp_path, capsys, kind, entry):
    path = crafted(trained, kind, tmp_path, vqvae=entry == "model.vqvae_ckpt")
    named = "Python object" if kind == "pickle" else target_payload(kind, tmp_path)["_target_"]
    line = refused(capsys, entry_points(path, tmp_path)[entry], named, "trust_checkpoint=true")
    assert "another lightning_ae version" not in line
    nothing_happened(tmp_path)
    assert not (tmp_path / "exported").exists()


@pytest.mark.parametrize("entry", ["eval", "train", "hashing"])
def test_the_command_lines_refuse_a_pickle_payload(trained, tmp_path, entry):
    """The same through the real command lines: exit 2, one line, no file created."""
    path = crafted(trained, "pickle", tmp_path)
    args = {"eval": (["lightning_ae.eval", f"ckpt_path={path}"]), "train": (["lightning_ae", f"ckpt_path={path}"]),
            "hashing": (["lightning_ae.hashing", "--ckpt", str(path)])}[entry]
    res = run_cli(args[1:], tmp_path, module=args[0])
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [l for l in res.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr and "holds a Python object" in errors[0], res.stderr
    nothing_happened(tmp_path)


def test_trust_checkpoint_unpickles_in_full_and_says_so(trained, tmp_path, caplog):
    """The opt-in: the same file then loads, its code runs (the marker appears), and a line warns about it."""
    import lightning_ae

    path = crafted(trained, "pickle", tmp_path)
    with pytest.raises(UserError):
        lightning_ae.load(path)
    model = lightning_ae.load(path, trust_checkpoint=True)
    assert (tmp_path / "marker").exists()
    assert "runs any code" in caplog.text and type(model).__name__ == "AE"


def test_trust_checkpoint_key_reaches_training(trained, tmp_path):
    """train.yaml's trust_checkpoint changes what runs: the resume (our check and Lightning's restore) unpickles."""
    path = crafted(trained, "pickle", tmp_path)
    run_cfg(compose_cfg([f"ckpt_path={path}", "trust_checkpoint=true", "trainer.max_epochs=2",
                         "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false",
                         "evaluation.enabled=false", "callbacks.image_grids=null", *QUIET], tmp_path / "train"))
    assert (tmp_path / "marker").exists()
    assert torch.load(tmp_path / "train" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_trust_checkpoint_key_reaches_eval(trained, tmp_path):
    from lightning_ae import eval as evaluation

    path = crafted(trained, "pickle", tmp_path)
    evaluation.run(compose_cfg([f"ckpt_path={path}", "trust_checkpoint=true", "evaluation=fast", "logger=none"],
                               tmp_path / "eval", config_name="eval"))
    assert (tmp_path / "marker").exists() and (tmp_path / "eval" / "eval.json").is_file()


@pytest.fixture(scope="module")
def vqvae_for_prior(tmp_path_factory) -> Path:
    import hydra
    from omegaconf import OmegaConf

    root = tmp_path_factory.mktemp("vq")
    cfg = compose_cfg(["model=vqvae"], root)
    torch.save({"lightning_ae": {"config": {"model": OmegaConf.to_container(cfg.model, resolve=True)}},
                "state_dict": hydra.utils.instantiate(cfg.model).state_dict()}, root / "vqvae.ckpt")
    return root / "vqvae.ckpt"


VARIANTS = ["ae", "dae", "hashing", "vae", "cvae", "vqvae", "vqvae_prior", "vaegan", "acai", "alae", "nvae_small"]


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_checkpoint_reads_weights_only(name, tmp_path, vqvae_for_prior):
    """What a training run checkpoints (weights, optimizer and scheduler states, loops, callbacks, random state,
    the run config) is plain: tensors, numbers, strings, containers. One training batch of each variant, saved the
    way the run saves last.ckpt, then read with torch's restricted unpickler and no allowlist."""
    import hydra
    from omegaconf import OmegaConf

    from lightning_ae.building import build_all

    extra = [f"model.vqvae_ckpt={vqvae_for_prior}"] if name == "vqvae_prior" else []
    cfg = compose_cfg([f"model={name}", *extra, "trainer.fast_dev_run=1", "data.batch_size=16", *QUIET,
                       "scheduler=none" if name.startswith("nvae") else "scheduler=cosine"], tmp_path)
    model, datamodule = hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.data)
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=build_all(cfg, "callbacks"), logger=False)
    trainer.fit(model, datamodule=datamodule)
    trainer.save_checkpoint(tmp_path / "last.ckpt", weights_only=False)
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert {"state_dict", "optimizer_states", "loops", "callbacks", "lightning_ae", "rng_state"} <= set(ckpt)
    assert ckpt["lightning_ae"]["config"]["model"]["_target_"] == cfg.model._target_


def conf_targets() -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            found.extend(v for k, v in node.items() if k == "_target_")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for group in ("model", "model/net", "data", "optimizer", "scheduler"):
        for f in (CONF / group).glob("*.yaml"):
            walk(yaml.safe_load(f.read_text()))
    return sorted(set(found))


def test_every_target_our_configs_name_is_allowed():
    from lightning_ae.safe_load import allowed_target

    targets = conf_targets()
    assert "torch.optim.Adam" in targets and "lightning_ae.nets.MLP" in targets and len(targets) > 20
    assert [t for t in targets if not allowed_target(t)] == []


@pytest.mark.parametrize("target", ["builtins.open", "torch.load", "os.system", "subprocess.call", "builtins.eval",
                                    "lightning_ae.models.vqvae_prior.torch.load", "lightning_ae.models.base.pl.Trainer",
                                    "datamodules.folder.Path", "torch.optim.Optimizer", "torch.optim.lr_scheduler.torch",
                                    "lightning_ae.safe_load.load_checkpoint", "datamodules.base.log", "antigravity.x",
                                    "lightning_ae.nets.mlp.mlp", "", None, 3, "a b"])
def test_other_targets_are_refused(target):
    from lightning_ae.safe_load import allowed_target

    assert not allowed_target(target)


def test_an_interpolation_in_a_stored_config_is_refused(tmp_path):
    """`${oc.decode:...}` could create a `_target_` after the check: stored configs are resolved, so it is refused."""
    from lightning_ae.safe_load import check_targets

    with pytest.raises(UserError, match="interpolation at model.net.hidden"):
        check_targets({"model": {"net": {"hidden": "${oc.decode:'{_target_: os.system, command: x}'}"}}}, "f")


def test_a_crafted_cifar_batch_runs_nothing(tmp_path, data_root):
    """CIFAR-10's batches are pickles: they are read with an unpickler that builds numpy arrays and nothing else."""
    import shutil

    from datamodules import CIFAR10DataModule

    root = tmp_path / "data"
    shutil.copytree(data_root / "cifar-10-batches-py", root / "cifar-10-batches-py")
    good = CIFAR10DataModule(channels=3, height=32, width=32, num_classes=10, data_dir=str(root), download=False)
    assert good.load()["train"][0].shape == (80, 3, 32, 32)  # the generated batches (numpy pickles) still load
    import pickle

    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as fh:
        pickle.dump({"data": CreatesFile(tmp_path / "marker"), "labels": []}, fh)
    bad = CIFAR10DataModule(channels=3, height=32, width=32, num_classes=10, data_dir=str(root), download=False)
    with pytest.raises(UserError, match="is not a CIFAR-10 batch: it holds a Python object"):
        bad.load()
    assert not (tmp_path / "marker").exists()
