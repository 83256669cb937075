"""`python -m lightning_ae.eval ckpt_path=...` on a checkpoint of every variant, and its errors."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_ae import config_options
from lightning_ae.errors import UserError
from tests.conftest import compose_cfg, run_cfg

ROOT = Path(__file__).resolve().parents[1]
FAST_FIT = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
            "test=false", "logger=none"]
NEEDS_CHECKPOINT = {"vqvae_prior": "vqvae"}  # model -> the variant whose checkpoint it is built on
CORE = {"ae", "dae", "vae"}
# configs whose model class another, cheaper config already covers (full NVAE: minutes for two CPU batches)
COVERED_BY = {"nvae": "nvae_small"}


def train_checkpoint(make_cfg, model: str, data: str = "digits", extra: list[str] | None = None) -> Path:
    cfg = make_cfg(model, data, extra=FAST_FIT + list(extra or []), fast=False)
    run_cfg(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    return ckpt


def evaluate_checkpoint(ckpt: Path, out: Path, extra: list[str] | None = None) -> dict:
    from lightning_ae.eval import run

    cfg = compose_cfg([f"ckpt_path={ckpt}", "evaluation=fast", *(extra or [])], out, config_name="eval")
    metrics = run(cfg)
    report = json.loads((out / "eval.json").read_text())
    assert report["metrics"] == pytest.approx(metrics, nan_ok=True)
    return report


def expected_parts(model) -> set[str]:
    """What the suite's duck-typing rules promise for this model on labelled digits (FID is off in fast)."""
    want = {"recon", "baseline_pca", "probe"}
    want |= {"likelihood"} if hasattr(model, "log_weights") else set()
    want |= {"denoise"} if hasattr(model, "corrupt") else set()
    want |= {"hash", "baseline_pca_sign", "baseline_lsh"} if hasattr(model, "hash_codes") else set()
    want |= {"vq", "baseline_pca_rate"} if hasattr(model, "code_indices") and hasattr(model, "num_codes") else set()
    want |= {"interpolation"} if hasattr(model, "interpolate") and hasattr(model, "encode") else set()  # the strips
    return want


def variant_params():
    options = config_options("model")
    for m in options:
        if COVERED_BY.get(m) in options:
            continue
        yield pytest.param(m, marks=[] if m in CORE else [pytest.mark.slow], id=m)


@pytest.mark.parametrize("model", variant_params())
def test_eval_command_on_a_checkpoint_of_each_variant(model, make_cfg, tmp_path, capsys):
    from lightning_ae.building import load_model

    extra = []
    if model in NEEDS_CHECKPOINT:
        base = train_checkpoint(make_cfg, NEEDS_CHECKPOINT[model], extra=["paths.output_dir=" + str(tmp_path / "base")])
        extra = [f"model.vqvae_ckpt={base}"]
    ckpt = train_checkpoint(make_cfg, model, extra=extra)
    report = evaluate_checkpoint(ckpt, tmp_path / "eval")
    metrics = report["metrics"]
    assert {k.split("/")[0] for k in metrics} == expected_parts(load_model(ckpt))
    assert report["data"] == "digits" and report["model"].startswith("lightning_ae.models.")
    assert all(v == v for k, v in metrics.items() if k.startswith("recon/"))  # no NaN
    assert "recon/sse" in capsys.readouterr().out  # the printed table


def test_eval_logs_to_the_configured_logger_and_takes_another_data_config(make_cfg, tmp_path, data_root):
    ckpt = train_checkpoint(make_cfg, "ae", "mnist")
    report = evaluate_checkpoint(ckpt, tmp_path / "eval", ["logger=csv", "data=mnist", "data.val_size=20",
                                                               f"paths.data_dir={data_root}"])
    assert report["data"] == "mnist"
    logged = (tmp_path / "eval" / "csv" / "metrics.csv").read_text()
    assert "eval/recon/mse" in logged and "eval/baseline_pca/sse" in logged


def test_eval_on_lines_adds_the_interpolation_metrics(make_cfg, tmp_path):
    pytest.importorskip("lightning_ae.metrics.lines")
    ckpt = train_checkpoint(make_cfg, "ae", "lines")
    metrics = evaluate_checkpoint(ckpt, tmp_path / "eval")["metrics"]
    # the checkpoint's own interpolations of the test pairs, scored by the lines metrics directly
    from omegaconf import OmegaConf

    from lightning_ae.building import build, load_model, read_checkpoint, stored_data_config
    from lightning_ae.metrics.lines import interpolation_paths, lines_metrics

    model = load_model(str(ckpt), read_checkpoint(str(ckpt)))
    stored = read_checkpoint(str(ckpt))["lightning_ae"]["config"]
    data = build(OmegaConf.create({"data": stored_data_config(stored, None)}), "data")
    data.setup()
    x = data.tensors("test")[0][:64]  # evaluation=fast: the first 64 test images, 16 pairs of 16 steps
    want = lines_metrics(interpolation_paths(model, x, pairs=min(16, len(x) // 2), steps=16))
    assert metrics["lines/mean_distance"] == pytest.approx(want["mean_distance"], rel=1e-5)
    assert metrics["lines/smoothness"] == pytest.approx(want["smoothness"], rel=1e-5)


def test_eval_with_data_of_another_shape_is_a_clear_error(make_cfg, tmp_path):
    ckpt = train_checkpoint(make_cfg, "ae")
    with pytest.raises(UserError, match="shape"):
        evaluate_checkpoint(ckpt, tmp_path / "eval", ["data=lines"])


def test_training_evaluates_the_trained_model(make_cfg):
    cfg = make_cfg("vae", "digits")  # fast_dev_run: the fast evaluation settings, no FID
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    want = {"eval/recon/mse", "eval/likelihood/nll_is_ce", "eval/baseline_pca/sse", "eval/probe/linear_acc"}
    assert want <= set(metrics)
    assert metrics["eval/likelihood/nll_is_ce"] <= metrics["eval/likelihood/neg_elbo_ce"]
    assert not any(k.startswith("eval/fid") for k in metrics)


def test_likelihood_units_follow_the_data_nats_only_for_binary_pixels(make_cfg, tmp_path, capsys):
    """A Bernoulli VAE on grey-level digits prints a cross-entropy, never nats or bits/dim; the same checkpoint
    on binarised digits prints nats and bits/dim, with bits/dim = nats / (D·ln 2)."""
    ckpt = train_checkpoint(make_cfg, "vae")
    grey = evaluate_checkpoint(ckpt, tmp_path / "grey", ["evaluation.parts.fid=false"])["metrics"]
    table = capsys.readouterr().out
    assert {"likelihood/neg_elbo_ce", "likelihood/nll_is_ce"} <= set(grey)
    assert "likelihood/nll_is " not in table and "_bpd" not in table and "likelihood/nll_is_ce" in table
    binary = evaluate_checkpoint(ckpt, tmp_path / "binary", ["+data.binarize=static"])["metrics"]
    table = capsys.readouterr().out
    assert "likelihood/nll_is_bpd" in table and not any(k.endswith("_ce") for k in binary)
    assert binary["likelihood/nll_is_bpd"] == pytest.approx(binary["likelihood/nll_is"] / (64 * math.log(2)))


def test_a_short_training_run_skips_the_costly_parts_and_says_how_to_run_them(make_cfg, caplog):
    cfg = make_cfg("vae", "digits", extra=FAST_FIT[:3] + ["logger=none"], fast=False)  # 1 epoch, then test
    with caplog.at_level("INFO", logger="lightning_ae"):
        run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert "eval/recon/mse" in metrics and "eval/probe/linear_acc" in metrics
    assert not any(k.startswith(("eval/likelihood", "eval/fid", "eval/baseline_pca")) for k in metrics)
    assert "skipped fid, marginal_fid, conditional, likelihood, pca_baseline after a 1-epoch run" in caplog.text
    assert "python -m lightning_ae.eval ckpt_path=" in caplog.text and ".ckpt" in caplog.text


def test_training_can_skip_the_evaluation(make_cfg):
    cfg = make_cfg("ae", "digits", extra=["evaluation.enabled=false"])
    run_cfg(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert "test/loss" in metrics and not any(k.startswith("eval/") for k in metrics)


# -- files that are not lightning_ae checkpoints ------------------------------------------------------
@pytest.mark.parametrize("content", ["garbage", "foreign", "truncated", "missing"])
def test_not_a_lightning_ae_checkpoint_is_one_clear_error(content, make_cfg, tmp_path):
    from lightning_ae.building import load_model

    path = tmp_path / "model.ckpt"
    if content == "garbage":
        path.write_bytes(bytes(torch.randint(0, 256, (256,), generator=torch.Generator().manual_seed(0)).tolist()))
    elif content == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, path)  # a plain Lightning checkpoint
    elif content == "truncated":
        path.write_bytes(train_checkpoint(make_cfg, "ae").read_bytes()[:2000])
    with pytest.raises(UserError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert ("lightning_ae checkpoint" in message) if content == "foreign" else True


def run_eval_command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lightning_ae.eval", *args, f"hydra.run.dir={cwd / 'run'}"],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_eval_command_errors_are_one_line_with_status_2(tmp_path):
    bad = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1)}, bad)
    for args, says in (([f"ckpt_path={bad}"], "not a lightning_ae checkpoint"),
                       ([f"ckpt_path={bad}", "evaluation=nope"], "unknown evaluation")):
        proc = run_eval_command(args, tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("error:") and says in lines[-1], proc.stderr
        assert "Traceback" not in proc.stderr


def test_missing_ckpt_path_says_what_to_give(tmp_path):
    from lightning_ae.eval import run

    with pytest.raises(UserError, match="ckpt_path="):
        run(compose_cfg([], tmp_path, config_name="eval"))


@pytest.mark.slow
def test_eval_command_end_to_end(make_cfg, tmp_path):
    ckpt = train_checkpoint(make_cfg, "vae")
    proc = run_eval_command([f"ckpt_path={ckpt}", "evaluation=fast"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert report["data"] == "digits" and "likelihood/nll_is_ce" in report["metrics"]  # grey levels: no nats
    assert "likelihood/nll_is_ce" in proc.stdout  # the table


def test_eval_and_hashing_entry_points_do_not_import_the_training_entry_point():
    """Both build and load through lightning_ae.building; no import of lightning_ae.train, even inside a function."""
    import ast

    for path in (ROOT / "lightning_ae" / "eval.py", ROOT / "lightning_ae" / "hashing" / "__main__.py"):
        modules = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import) for a in n.names}
        assert "lightning_ae.train" not in modules and "lightning_ae.building" in modules, path
