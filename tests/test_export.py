"""Export and the Python API (issue 23): an exported folder rebuilds every variant exactly, without an unpickler;
its model card carries the run's metrics; the Hub paths work from a local cache and say so when they cannot."""
from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

import lightning_ae
from lightning_ae.errors import UserError, user_errors
from lightning_ae.export import export
from tests.conftest import compose_cfg

VARIANTS = ["ae", "dae", "hashing", "vae", "cvae", "vqvae", "vqvae_prior", "vaegan", "acai", "alae", "nvae_small"]


def save_untrained(name: str, root: Path, extra: list[str] | None = None) -> tuple[Path, torch.nn.Module]:
    """A checkpoint as the train entry point writes it (weights + the resolved run config) of an untrained
    `model=name` on digits, built straight from the config: no training needed to test a round trip."""
    cfg = compose_cfg([f"model={name}", *(extra or [])], root)
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.manual_seed(0)
    model = hydra.utils.instantiate(cfg.model)
    path = root / f"{name}.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "epoch": 0, "global_step": 0,
                "lightning_ae": {"version": lightning_ae.__version__, "config": config}}, path)
    model.run_config = config
    return path, model.eval()


@pytest.fixture(scope="module")
def vqvae_ckpt(tmp_path_factory) -> Path:
    return save_untrained("vqvae", tmp_path_factory.mktemp("vqvae"))[0]


@pytest.mark.parametrize("name", VARIANTS)
def test_export_then_load_gives_the_same_model(name, tmp_path, vqvae_ckpt):
    extra = [f"model.vqvae_ckpt={vqvae_ckpt}"] if name == "vqvae_prior" else []
    ckpt, model = save_untrained(name, tmp_path / "run", extra)
    folder = export(ckpt, tmp_path / "exported")
    if name == "vqvae_prior":  # the exported prior needs no other file: its VQ-VAE comes from its own weights
        vqvae_ckpt.rename(vqvae_ckpt.with_suffix(".moved"))
    try:
        loaded = lightning_ae.load(folder)
    finally:
        if name == "vqvae_prior":
            vqvae_ckpt.with_suffix(".moved").rename(vqvae_ckpt)
    assert type(loaded) is type(model) and not loaded.training
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
        assert torch.equal(loaded.encode(x), model.encode(x))
        if model.can_sample:
            torch.manual_seed(3)
            want = model.sample(4)
            torch.manual_seed(3)
            assert torch.equal(loaded.sample(4), want)
    assert {"model.safetensors", "config.yaml", "metrics.json", "README.md"} <= {p.name for p in folder.iterdir()}


def test_loading_an_exported_folder_never_unpickles(tmp_path, monkeypatch):
    ckpt, model = save_untrained("vae", tmp_path / "run")
    folder = export(ckpt, tmp_path / "exported")

    def refuse(*args, **kwargs):
        raise AssertionError("an unpickler was called")

    for owner, name in ((torch, "load"), (torch.serialization, "load"), (pickle, "load"), (pickle, "loads"),
                        (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, refuse)
    loaded = lightning_ae.load(folder)
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))


def test_the_model_card_holds_the_runs_metrics(tmp_path):
    """A run directory's metrics.json and eval.json (with its protocol) end up in README.md, value by value."""
    run = tmp_path / "run"
    ckpt, _ = save_untrained("vae", run / "checkpoints")
    ckpt = ckpt.rename(run / "checkpoints" / "last.ckpt")
    (run / "metrics.json").write_text(json.dumps({"test/loss": 41.25, "val/loss": 42.5, "train/loss": 40.0}))
    (run / "eval.json").write_text(json.dumps({"metrics": {"likelihood/nll_is": 88.51, "recon/psnr": 21.375},
                                               "evaluation": {"max_images": 1000, "likelihood": {"k": 1000}}}))
    folder = export(ckpt, tmp_path / "exported")
    card = (folder / "README.md").read_text()
    for line in ("| eval/likelihood/nll_is | 88.51 |", "| eval/recon/psnr | 21.375 |", '"max_images": 1000',
                 "Kingma & Welling", "DigitsDataModule", "1 epoch(s), 0 optimizer steps"):
        assert line in card, line
    assert json.loads((folder / "metrics.json").read_text())["test/loss"] == 41.25
    assert json.loads((folder / "eval.json").read_text())["metrics"]["recon/psnr"] == 21.375


def test_a_run_directory_loads_its_best_checkpoint_and_says_so(tmp_path, caplog):
    run = tmp_path / "run"
    best, model = save_untrained("ae", run / "checkpoints")
    best = best.rename(run / "checkpoints" / "epoch_003.ckpt")
    last, _ = save_untrained("ae", run / "other", ["model.latent_dim=4"])
    last.rename(run / "checkpoints" / "last.ckpt")
    with caplog.at_level(logging.INFO, logger="lightning_ae"):
        loaded = lightning_ae.load(run)
    assert "best checkpoint, epoch_003.ckpt" in caplog.text and loaded.latent_dim == model.latent_dim == 16
    best.unlink()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lightning_ae"):
        assert lightning_ae.load(run / "checkpoints").latent_dim == 4
    assert "loading last.ckpt" in caplog.text


def test_preprocess_prepares_images_as_the_datamodule_did(tmp_path):
    """uint8 and float inputs, channels last, another size; the lines data's [-1, 1] range; binarised data."""
    _, model = save_untrained("ae", tmp_path)
    grey = torch.randint(0, 256, (2, 8, 8), dtype=torch.uint8)
    want = grey.float().div(255).unsqueeze(1)
    assert torch.equal(model.preprocess(grey), want)
    assert torch.equal(model.preprocess(grey.float() / 255), want)
    assert torch.equal(model.preprocess(grey.unsqueeze(-1)), want)  # [N, H, W, C]
    big = torch.full((1, 1, 24, 16), 0.25)
    assert torch.allclose(model.preprocess(big), torch.full((1, 1, 8, 8), 0.25))
    model.run_config = {"data": {"value_range": [-1.0, 1.0]}}
    black_white = torch.tensor([0, 255], dtype=torch.uint8).repeat(32).reshape(1, 8, 8)
    assert torch.equal(model.preprocess(black_white)[0, 0, 0, :2], torch.tensor([-1.0, 1.0]))
    model.run_config = {"data": {"binarize": "dynamic"}}
    half = model.preprocess(torch.full((64, 8, 8), 0.5), generator=torch.Generator().manual_seed(0))
    assert set(half.unique().tolist()) == {0.0, 1.0} and abs(half.mean().item() - 0.5) < 0.02  # Bernoulli(0.5)
    with pytest.raises(UserError, match="1-channel images"):
        model.preprocess(torch.rand(2, 3, 8, 8))


def refused(capsys, call, *needles) -> str:
    with pytest.raises(SystemExit) as exit_info, user_errors():
        call()
    assert exit_info.value.code == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("error:"), err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def test_export_command_line(tmp_path, capsys):
    from lightning_ae.export import main

    ckpt, _ = save_untrained("ae", tmp_path / "run")
    refused(capsys, lambda: main([f"ckpt_path={ckpt}", f"outt={tmp_path / 'x'}"]), "unknown setting 'outt=")
    refused(capsys, lambda: main([f"ckpt_path={ckpt}"]), "give out=...")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    refused(capsys, lambda: main([f"ckpt_path={ckpt}", f"out={tmp_path / 'taken'}"]), "not an empty folder")
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    main([f"ckpt_path={ckpt}", f"out={tmp_path / 'done'}"])
    assert (tmp_path / "done" / "model.safetensors").is_file() and not (tmp_path / "done.tmp").exists()


def test_push_to_hub_uploads_the_folder(tmp_path, monkeypatch, capsys):
    """What would be uploaded, with the hub client's calls replaced (no network in tests); no token: one line."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from lightning_ae.export import main

    ckpt, _ = save_untrained("ae", tmp_path / "run")
    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id)))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda self, **kw: calls.append(("upload", kw["repo_id"], sorted(p.name for p in
                                                                                       Path(kw["folder_path"]).iterdir()))))
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    refused(capsys, lambda: main([f"ckpt_path={ckpt}", f"out={tmp_path / 'a'}", "--push-to-hub", "me/ae"]),
            "needs a Hugging Face token", "hf upload me/ae")
    assert calls == [] and (tmp_path / "a" / "model.safetensors").is_file()  # the folder stays written
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    main([f"ckpt_path={ckpt}", f"out={tmp_path / 'b'}", "--push-to-hub", "me/ae"])
    assert calls == [("create", "me/ae"),
                     ("upload", "me/ae", sorted(p.name for p in (tmp_path / "b").iterdir()))]
    assert 'lightning_ae.load("hf://me/ae")' in (tmp_path / "b" / "README.md").read_text()


def hub_cache(root: Path, repo_id: str, folder: Path) -> Path:
    """A Hugging Face Hub cache (HF_HUB_CACHE layout) holding `folder` as the snapshot of `repo_id`'s main."""
    commit = "0" * 40
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in folder.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    return root


def test_hf_paths_load_offline_from_the_hub_cache(tmp_path, monkeypatch, capsys):
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    ckpt, model = save_untrained("vae", tmp_path / "run")
    cache = hub_cache(tmp_path / "hub", "me/vae", export(ckpt, tmp_path / "exported"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = lightning_ae.load("hf://me/vae")
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    refused(capsys, lambda: lightning_ae.load("hf://me/absent"), "hf://me/absent could not be downloaded",
            "not in the local Hub cache")


def test_import_lightning_ae_stays_light():
    code = ("import sys, lightning_ae; heavy = [m for m in ('torch', 'hydra', 'pytorch_lightning', 'safetensors', "
            "'huggingface_hub') if m in sys.modules]; print(heavy); assert callable(lightning_ae.load) and not heavy")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
