"""`python -m lightning_ae.export ckpt_path=<.ckpt> out=<folder> [trust_checkpoint=true] [--push-to-hub user/name]`

Writes a folder someone else can use without this run's files, and that `lightning_ae.load(folder)` opens without
any unpickler:

    model.safetensors   the weights (safetensors: tensors only, no code)
    config.yaml         the resolved model and data config that rebuild the variant
    metrics.json        the run's metrics.json (training, test and evaluation), eval.json beside it if there is one
    *.png               the run's latest reconstruction / sample / interpolation grids (else freshly rendered)
    README.md           a model card: variant and paper, data, budget, metrics with their protocol, figures, loading

`--push-to-hub user/name` then uploads the folder to the Hugging Face Hub (`pip install 'lightning_ae[hub]'` and a
token: HF_TOKEN or `hf auth login`); `lightning_ae.load("hf://user/name")` opens it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from lightning_ae.errors import UserError, user_errors

log = logging.getLogger("lightning_ae")

KEYS = {"ckpt_path": "the .ckpt to export (required)", "out": "the folder to write (required; new or empty)",
        "trust_checkpoint": "true: a checkpoint that needs full unpickling (runs its code; only files you trust)"}
FIGURES = ("reconstructions", "samples", "interpolations")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lightning_ae.export", description=__doc__.split("\n\n")[1],
                                epilog="settings: " + "; ".join(f"{k}=... {v}" for k, v in KEYS.items()))
    p.add_argument("settings", nargs="*", metavar="key=value")
    p.add_argument("--push-to-hub", metavar="USER/NAME", help="upload the folder to this Hugging Face Hub repository")
    args = p.parse_args(argv)
    values = {}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS:
            raise UserError(f"unknown setting {item!r}; python -m lightning_ae.export takes "
                            f"{', '.join(k + '=...' for k in KEYS)} and --push-to-hub user/name")
        values[key] = value
    missing = [k for k in ("ckpt_path", "out") if not values.get(k)]
    if missing:
        raise UserError(f"give {' and '.join(k + '=...' for k in missing)}: python -m lightning_ae.export "
                        "ckpt_path=<run>/checkpoints/last.ckpt out=<new folder>")
    if values.get("trust_checkpoint", "false").lower() not in ("true", "false"):
        raise UserError(f"trust_checkpoint={values['trust_checkpoint']} takes true or false")
    args.ckpt_path, args.out = values["ckpt_path"], Path(values["out"]).expanduser()
    args.trust_checkpoint = values.get("trust_checkpoint", "false").lower() == "true"
    return args


def export(ckpt_path: str | Path, out: str | Path, trust_checkpoint: bool = False, hub_repo: str | None = None) -> Path:
    """Write the exported folder `out` (new, or empty) for the checkpoint `ckpt_path`; returns it. Everything is
    written into `out.tmp` first and renamed at the end, so a failure leaves no half folder under `out`.
    `hub_repo` (user/name) is where the folder is going: the model card's loading example names it."""
    from omegaconf import OmegaConf
    from safetensors.torch import save_model

    from lightning_ae import __version__
    from lightning_ae.building import load_model, read_checkpoint
    from lightning_ae.safe_load import trusting

    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"out={out} already exists and is not an empty folder; choose a new one (nothing was written)")
    with trusting(trust_checkpoint):
        ckpt = read_checkpoint(ckpt_path)
        model = load_model(ckpt_path, ckpt)
    stored = ckpt["lightning_ae"]["config"]
    run_dir = Path(ckpt_path).resolve().parent.parent if Path(ckpt_path).resolve().parent.name == "checkpoints" \
        else None
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt", "lightning_ae": __version__})
        config = {"model": model.portable_config(), "data": stored.get("data")}
        (tmp / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)), encoding="utf-8")
        metrics = {name: json.loads((run_dir / name).read_text()) for name in ("metrics.json", "eval.json")
                   if run_dir is not None and (run_dir / name).is_file()}
        (tmp / "metrics.json").write_text(json.dumps(metrics.get("metrics.json", {}), indent=2, sort_keys=True))
        if "eval.json" in metrics:
            (tmp / "eval.json").write_text(json.dumps(metrics["eval.json"], indent=2, sort_keys=True))
        figures = copy_figures(run_dir, tmp) or render_figures(model, stored, tmp)
        (tmp / "README.md").write_text(model_card(model, stored, ckpt, metrics, figures, hub_repo), encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s to %s (%s)", ckpt_path, out, ", ".join(sorted(p.name for p in out.iterdir())))
    return out


def copy_figures(run_dir: Path | None, out: Path) -> list[str]:
    """The run's latest grid of each kind (images/<name>_epochNNN.png) as <name>.png."""
    found = []
    for name in FIGURES:
        grids = sorted((run_dir / "images").glob(f"{name}_*.png")) if run_dir is not None else []
        if grids:
            shutil.copyfile(grids[-1], out / f"{name}.png")
            found.append(name)
    return found


def render_figures(model, stored: dict, out: Path) -> list[str]:
    """Fresh grids when the run's images/ is not beside the checkpoint: reconstructions and interpolations of the
    first validation images where the data can be loaded here, samples (seed 0) where the variant samples."""
    import torch

    from lightning_ae.building import build, stored_data_config
    from lightning_ae.callbacks.image_grids import save_grid

    value_range = tuple((stored.get("data") or {}).get("value_range", (0.0, 1.0)))
    try:
        datamodule = build({"data": stored_data_config(stored)}, "data")
        x, y = (t[:16] for t in datamodule.tensors("val"))
    except UserError as e:
        log.info("no data here for reconstruction figures (%s); the card shows samples only", e)
        x = y = None
    torch.manual_seed(0)
    with torch.no_grad():
        grids = model.image_grids(x, y) if x is not None else {"samples": model.sample(64)} if model.can_sample else {}
    for name, images in grids.items():
        save_grid(images, out / f"{name}.png", value_range)
    return [n for n in FIGURES if n in grids]


def model_card(model, stored: dict, ckpt: dict, metrics: dict, figures: list[str], hub_repo: str | None = None) -> str:
    """README.md of the exported folder (Hugging Face model-card front matter first)."""
    import inspect

    import torch

    variant = type(model).__name__
    paper = (inspect.getmodule(type(model)).__doc__ or variant).strip().splitlines()[0]
    data = stored.get("data") or {}
    trainer = stored.get("trainer") or {}
    data_name = str(data.get("_target_", "?")).rsplit(".", 1)[-1].removesuffix("DataModule")
    params = sum(p.numel() for p in model.parameters())
    lines = ["---", "library_name: lightning_ae", f"tags: [autoencoder, pytorch-lightning, {variant.lower()}]", "---",
             f"# {variant} on {data_name}", "", f"**Variant**: `{variant}`, {paper}", "",
             "## Data", "",
             f"`{data.get('_target_')}`: images of shape {[data.get(k) for k in ('channels', 'height', 'width')]}, "
             f"value range {data.get('value_range', [0.0, 1.0])}, binarisation {data.get('binarize') or 'none'}, "
             f"{data.get('num_classes', 0)} classes; split seed {data.get('seed')}.", "",
             "## Budget", "",
             f"Trained {int(ckpt.get('epoch') or 0) + 1} epoch(s), {ckpt.get('global_step')} optimizer steps "
             f"(trainer.max_epochs={trainer.get('max_epochs')}, max_steps={trainer.get('max_steps')}), batch size "
             f"{data.get('batch_size')}, seed {stored.get('seed')}, precision {trainer.get('precision')}; "
             f"{params:,} parameters; lightning_ae {(ckpt.get('lightning_ae') or {}).get('version')}, "
             f"torch {torch.__version__}.", "", "## Evaluation", ""]
    lines += metric_section(stored, metrics)
    if figures:
        lines += ["## Figures", ""] + [f"![{name}]({name}.png)" for name in figures] + [""]
    lines += ["## Use", "", "```python", "import lightning_ae", "",
              f'model = lightning_ae.load("{f"hf://{hub_repo}" if hub_repo else "<this folder>"}")   # eval mode, on the CPU',
              "x = model.preprocess(images)     # uint8 or [0, 1] images, prepared as the training data was",
              "z, x_hat = model.encode(x), model.reconstruct(x)"
              + ("\nsamples = model.sample(16)" if model.can_sample else ""),
              "```", "",
              "`model.safetensors` holds only tensors and `config.yaml` only this project's classes: loading runs no "
              "code from the folder. Config: `config.yaml`; all figures: `metrics.json`"
              + (", `eval.json`" if "eval.json" in metrics else "") + ".", ""]
    return "\n".join(lines)


def metric_section(stored: dict, metrics: dict) -> list[str]:
    """The run's metrics as a table, with the protocol that produced them."""
    evaluation = metrics.get("eval.json")
    values = {f"eval/{k}": v for k, v in (evaluation or {}).get("metrics", {}).items()} or \
        {k: v for k, v in metrics.get("metrics.json", {}).items() if k.startswith(("eval/", "test/", "val/"))}
    if not values:
        return ["No metrics were found beside the checkpoint; run `python -m lightning_ae.eval ckpt_path=...` and "
                "export again.", ""]
    protocol = (evaluation or {}).get("evaluation") or stored.get("evaluation") or {}
    source = "`python -m lightning_ae.eval` (eval.json)" if evaluation else "the run itself (metrics.json)"
    lines = [f"From {source}: `val/*`, `test/*` are the loss terms on the validation and test splits; `eval/<part>/<metric>` the evaluation "
             "suite of lightning_ae (one part per file in lightning_ae/evaluation/parts/, formulas in "
             "lightning_ae/metrics/) on the test split, likelihoods in nats only on binarised data. Settings: "
             f"`{json.dumps(protocol, sort_keys=True)}`.", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" if isinstance(v, (int, float)) else f"| {k} | {v} |" for k, v in sorted(values.items())]
    return lines + [""]


def push_to_hub(folder: Path, repo_id: str) -> str:
    """Upload `folder` to the Hub repository `repo_id` (created if needed); returns its URL."""
    try:
        from huggingface_hub import HfApi, get_token
    except ImportError:
        raise UserError(f"--push-to-hub needs the Hugging Face Hub client: pip install 'lightning_ae[hub]'; {folder} "
                        "is written, upload it later with `hf upload`") from None
    if get_token() is None:
        raise UserError(f"--push-to-hub needs a Hugging Face token (set HF_TOKEN or run `hf auth login`); {folder} "
                        f"is written, upload it later with `hf upload {repo_id} {folder}`")
    api = HfApi()
    try:
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="lightning_ae export")
    except Exception as e:
        raise UserError(f"could not upload to the Hugging Face Hub ({type(e).__name__}: no network, or no access to "
                        f"{repo_id}); {folder} is written, upload it later with `hf upload {repo_id} {folder}`") from None
    return f"https://huggingface.co/{repo_id}"


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with user_errors():
        args = parse(sys.argv[1:] if argv is None else argv)
        folder = export(args.ckpt_path, args.out, args.trust_checkpoint, hub_repo=args.push_to_hub)
        print(f"exported to {folder}; load it with lightning_ae.load({str(folder)!r})")
        if args.push_to_hub:
            print(f"uploaded to {push_to_hub(folder, args.push_to_hub)}; load it with "
                  f"lightning_ae.load('hf://{args.push_to_hub}')")


if __name__ == "__main__":
    main()
