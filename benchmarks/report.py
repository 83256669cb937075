"""`make bench`: train every variant at a fixed budget on MNIST and lines, evaluate each checkpoint with
`python -m lightning_ae.eval`, and write benchmarks/RESULTS.md (one table per data set, baselines included).

    python benchmarks/report.py                         # --budget cpu: < 1 hour on 2 cores
    python benchmarks/report.py --budget gpu            # a lent GPU
    python benchmarks/report.py --budget smoke          # a minute or few: proves the pipeline works
    python benchmarks/report.py --only hinton2006 --hinton-minutes 6    # rerun some rows, keep the others

Every row (variant × data set) is trained in its own `python -m lightning_ae` process with a wall-clock cap
(`trainer.max_time`) and an epoch cap, then evaluated by `python -m lightning_ae.eval` on its last checkpoint.
Row results accumulate in benchmarks/results.json (each with its budget, machine and date), so rerunning a
few rows keeps the rest; RESULTS.md is rendered from that file. Runs go to outputs/bench/ (not tracked).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HERE = ROOT / "benchmarks"
RESULTS_JSON, RESULTS_MD = HERE / "results.json", HERE / "RESULTS.md"
HINTON = "hinton2006"  # the AE-30 row: experiment=hinton2006 (784-1000-500-250-30, cross-entropy)
PAPER_SSE, PAPER_PCA_SSE = 3.00, 13.87


@dataclass
class Budget:
    """A fixed training + evaluation budget. Times are wall-clock caps per row (fit only)."""

    describe: str
    accelerator: str
    minutes: dict[str, float]            # per data set, for every variant row
    max_epochs: int
    hinton_minutes: float
    hinton_epochs: int
    variants: list[str] | None = None    # None: every conf/model/*.yaml
    train: list[str] = field(default_factory=list)            # extra training overrides
    data: dict[str, list[str]] = field(default_factory=dict)  # per data set overrides (train and eval)
    evaluation: list[str] = field(default_factory=list)       # overrides for the eval command


BUDGETS = {
    "cpu": Budget(
        describe="CPU, 2 cores: each variant 60 s of training on MNIST and 40 s on lines (at most 20 epochs, "
                 "validation on 10 batches), AE-30 (hinton2006) 10 min; IS-NLL with K=20 on 500 test images, "
                 "FID on 2,000 samples, everything else on the whole test set",
        accelerator="cpu", minutes={"mnist": 1.0, "lines": 40 / 60}, max_epochs=20,
        hinton_minutes=10, hinton_epochs=50, train=["+trainer.limit_val_batches=10"],
        evaluation=["evaluation.is_samples=20", "evaluation.is_chunk=20", "evaluation.likelihood_max_images=500",
                    "evaluation.fid.num_samples=2000"]),
    "gpu": Budget(
        describe="one GPU: each variant 10 min (at most 50 epochs) on MNIST, 5 min on lines, AE-30 50 epochs; "
                 "IS-NLL with K=1000 on the whole test set, FID on 10,000 samples",
        accelerator="gpu", minutes={"mnist": 10, "lines": 5}, max_epochs=50, hinton_minutes=30, hinton_epochs=50,
        evaluation=["evaluation.is_samples=1000", "evaluation.is_chunk=250", "evaluation.fid.num_samples=10000"]),
    "smoke": Budget(
        describe="smoke test of the pipeline, not a result: 20 training batches per row, 2,000 lines, "
                 "evaluation=fast with a 500-sample FID",
        accelerator="cpu", minutes={"mnist": 0.5, "lines": 0.5}, max_epochs=1, hinton_minutes=0.5, hinton_epochs=1,
        variants=["vae"], train=["+trainer.limit_train_batches=20", "+trainer.limit_val_batches=5"],
        data={"lines": ["data.train_size=2000", "data.test_size=500", "data.val_size=200"]},
        evaluation=["evaluation=fast", "evaluation.parts.fid=true", "evaluation.fid.num_samples=500"]),
}
DATASETS = ("mnist", "lines")
NEEDS = {"vqvae_prior": "vqvae"}  # a row built on another row's checkpoint: model.vqvae_ckpt=<that checkpoint>


# -- running rows ---------------------------------------------------------------------------------------
def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu} ({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores){gpu}"


def max_time(minutes: float) -> str:
    s = max(1, int(round(minutes * 60)))
    return f'+trainer.max_time="00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"'


def run(cmd: list[str], log: Path) -> tuple[int, float]:
    t = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                            env=dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT))).returncode
    return rc, time.perf_counter() - t


def last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    err = [ln for ln in lines if ln.startswith("error:")]
    return (err or lines or ["(no output)"])[-1][:200]


def batches_per_epoch(data: str, overrides: list[str], data_dir: str) -> int:
    """Training batches in one epoch of this data config (drop_last), from the datamodule itself."""
    import hydra
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"data={data}", f"paths.data_dir={data_dir}", "paths.output_dir=.",
                                          *overrides])
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    return max(1, len(dm.splits["train"][0]) // dm.batch_size)


def progress(ckpt_path: Path) -> tuple[float, float]:
    """(epochs trained, fit seconds) from a checkpoint: batches done / batches per epoch, Timer state."""
    import torch

    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    try:
        batches = ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"]
    except (KeyError, TypeError):
        batches = ckpt.get("global_step", 0)
    seconds = (ckpt.get("callbacks", {}).get("Timer") or {}).get("time_elapsed", {}).get("train", float("nan"))
    return float(batches), float(seconds)


def run_row(variant: str, data: str, budget: Budget, name: str, args, rows: dict) -> dict:
    hinton = variant == HINTON
    key = f"{variant}@{data}"
    out = Path(args.runs_dir) / name / key
    out.mkdir(parents=True, exist_ok=True)
    minutes = budget.hinton_minutes if hinton else budget.minutes[data]
    if hinton and args.hinton_minutes is not None:
        minutes = args.hinton_minutes
    epochs = budget.hinton_epochs if hinton else budget.max_epochs
    data_over = budget.data.get(data, [])
    model = ["experiment=hinton2006"] if hinton else [f"model={variant}", f"data={data}"]
    extra = []
    if variant in NEEDS:
        base = rows.get(f"{NEEDS[variant]}@{data}", {})
        if not base.get("ckpt") or not Path(base["ckpt"]).is_file():
            return {"row": key, "variant": variant, "data": data, "status": f"skipped: needs the {NEEDS[variant]} row"}
        extra = [f"model.vqvae_ckpt={base['ckpt']}"]
    train_cmd = [sys.executable, "-m", "lightning_ae", *model, *data_over, *extra, *budget.train,
                 f"paths.data_dir={args.data_dir}", f"hydra.run.dir={out / 'train'}", "test=false", "logger=csv",
                 f"trainer.accelerator={budget.accelerator}", f"trainer.max_epochs={epochs}", max_time(minutes),
                 "trainer.enable_progress_bar=false", "callbacks.image_grids.every_n_epochs=1000", "seed=0"]
    label = name if not (hinton and args.hinton_minutes is not None) else f"{name}, AE-30 capped at {minutes:g} min"
    row = {"row": key, "variant": "ae30 (hinton2006)" if hinton else variant, "data": data, "budget": label,
           "minutes": round(minutes, 2), "machine": machine(), "date": dt.date.today().isoformat()}
    print(f"[bench] {key}: training ({minutes:g} min, ≤ {epochs} epochs)", flush=True)
    rc, wall = run(train_cmd, out / "train.log")
    ckpt = out / "train" / "checkpoints" / "last.ckpt"
    if rc != 0 or not ckpt.is_file():
        return row | {"status": f"train failed: {last_line(out / 'train.log')}"}
    batches, seconds = progress(ckpt)
    per_epoch = batches_per_epoch(data, data_over, args.data_dir)
    row |= {"ckpt": str(ckpt), "epochs": batches / per_epoch, "train_s": seconds,
            "s_per_epoch": seconds * per_epoch / max(batches, 1)}
    print(f"[bench] {key}: evaluating", flush=True)
    # the checkpoint stores the data config it trained on (data_dir and sizes included)
    eval_cmd = [sys.executable, "-m", "lightning_ae.eval", f"ckpt_path={ckpt}", *budget.evaluation,
                f"hydra.run.dir={out / 'eval'}", "logger=csv"]
    rc, _ = run(eval_cmd, out / "eval.log")
    report = out / "eval" / "eval.json"
    if rc != 0 or not report.is_file():
        return row | {"status": f"eval failed: {last_line(out / 'eval.log')}"}
    return row | {"status": "ok", "metrics": json.loads(report.read_text())["metrics"]}


# -- the Markdown report ----------------------------------------------------------------------------
def fmt(v, digits=3) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"


# (header, metric key, significant digits); a column appears when some row of the table has it
COLUMNS = [
    ("SSE/img", "recon/sse", 4), ("MSE", "recon/mse", 3), ("PSNR", "recon/psnr", 3), ("SSIM", "recon/ssim", 3),
    ("−ELBO (nats)", "likelihood/neg_elbo", 4), ("IS-NLL (nats)", "likelihood/nll_is", 4),
    ("IS K", "likelihood/is_samples", 4), ("IS-NLL bits/dim", "likelihood/nll_is_bpd", 3),
    ("FID (classifier†)", "fid/classifier", 3), ("FID (Inception)", "fid/inception", 3),
    ("linear probe", "probe/linear_acc", 3), ("K-means acc", "probe/kmeans_acc", 3),
    ("lines dist", "lines/mean_distance", 3), ("lines smooth", "lines/smoothness", 3),
    ("denoise PSNR in→out", ("denoise/psnr_input", "denoise/psnr_output"), 3),
    ("hash P@r2", "hash/precision_radius", 3), ("hash mAP@k", "hash/map_at_k", 3),
    ("VQ perplexity", "vq/perplexity", 4), ("VQ dead share", "vq/dead_share", 3),
]


def cell(metrics: dict, key, digits) -> str:
    if isinstance(key, tuple):
        vals = [metrics.get(k) for k in key]
        return "" if any(v is None for v in vals) else " → ".join(fmt(v, digits) for v in vals)
    return fmt(metrics.get(key), digits)


def baseline_rows(rows: list[dict]) -> list[dict]:
    """PCA with the models' component counts; PCA-sign and LSH codes with the hashing row's bit count."""
    out, seen = [], set()
    for r in rows:
        m = r.get("metrics") or {}
        if "baseline_pca/sse" in m and (k := int(m["baseline_pca/components"])) not in seen:
            seen.add(k)
            out.append({"variant": f"PCA, {k} components", "metrics": {f"recon/{x}": m[f"baseline_pca/{x}"]
                        for x in ("sse", "mse", "psnr", "ssim")}, "budget": r["budget"], "note": "baseline"})
        for base, label in (("baseline_pca_sign", "PCA-sign"), ("baseline_lsh", "LSH")):
            if f"{base}/map_at_k" in m:
                out.append({"variant": f"{label}, {int(m['hash/bits'])} bits", "budget": r["budget"], "note": "baseline",
                            "metrics": {f"hash/{x}": m[f"{base}/{x}"] for x in ("precision_radius", "map_at_k")}})
    return out


def table(rows: list[dict]) -> list[str]:
    everything = rows + baseline_rows(rows)
    cols = [c for c in COLUMNS if any(cell(r.get("metrics") or {}, c[1], c[2]) for r in everything)]
    head = ["variant", "budget", "epochs", "s/epoch", *[c[0] for c in cols], "machine", "date", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in everything:
        m = r.get("metrics") or {}
        vals = [r["variant"], r.get("budget", ""), fmt(r.get("epochs"), 2), fmt(r.get("s_per_epoch"), 3),
                *[cell(m, c[1], c[2]) for c in cols], r.get("machine", ""), r.get("date", ""),
                r.get("status", r.get("note", ""))]
        lines.append("| " + " | ".join(str(v) for v in vals) + " |")
    return lines


def hinton_line(rows: list[dict]) -> str:
    r = next((r for r in rows if r["row"].startswith(HINTON) and r.get("status") == "ok"), None)
    if r is None:
        return f"AE-30 (Hinton & Salakhutdinov 2006 protocol): not run yet (`--only {HINTON}`)."
    sse, pca = r["metrics"]["recon/sse"], r["metrics"].get("baseline_pca/sse")
    verdict = (f"reaches the paper's {PAPER_SSE:.2f}" if sse <= PAPER_SSE else
               f"is {sse - PAPER_SSE:.2f} above the paper's {PAPER_SSE:.2f} ({sse / PAPER_SSE:.1f}×) after "
               f"{r['epochs']:.1f} epochs (the paper pretrains each layer as an RBM, then fine-tunes for many epochs)")
    return (f"AE-30 (Hinton & Salakhutdinov 2006 protocol: squared error summed over the 784 pixels in [0, 1], "
            f"mean over the 10,000 test images): **{sse:.2f}** with budget `{r['budget']}` "
            f"({r['minutes']:g} min on {r['machine']}, {r['date']}), which {verdict}. "
            f"PCA with 30 components: {fmt(pca, 4)} here, {PAPER_PCA_SSE} in the paper.")


def render(results: dict, budgets_used: set[str]) -> str:
    rows = list(results.values())
    md = ["# Benchmark results", "",
          "Generated by `make bench` (`python benchmarks/report.py`); see benchmarks/README.md. Each row trains "
          "one variant for the stated budget, then `python -m lightning_ae.eval` scores its last checkpoint on the "
          "test split. Reconstruction metrics are on images rescaled to [0, 1]; SSE/img is the Hinton-2006 "
          "protocol. Empty cells: the metric does not apply to that variant.", "",
          "† FID (classifier): Fréchet distance in the features of a small classifier this project trains on the "
          "same data set (Inception weights cannot be downloaded here). It ranks models on one data set and is "
          "**not** comparable with published Inception FIDs.", "", "Budgets:"]
    md += [f"- `{b}`: {BUDGETS[b.split(',')[0]].describe}" for b in sorted(budgets_used) if b.split(",")[0] in BUDGETS]
    md += ["", hinton_line(rows), ""]
    for data in DATASETS:
        sub = [r for r in rows if r.get("data") == data]
        if sub:
            md += [f"## {data}", "", *table(sub), ""]
    return "\n".join(md)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    p.add_argument("--data-dir", default=os.environ.get("LIGHTNING_AE_DATA", str(ROOT.parent / "shared" / "data")),
                   help="folder with MNIST/raw (default: ../shared/data or $LIGHTNING_AE_DATA)")
    p.add_argument("--variants", help="comma-separated model configs (default: the budget's list, or all)")
    p.add_argument("--data", default=",".join(DATASETS), help="comma-separated: mnist,lines")
    p.add_argument("--only", help="rerun only these rows (variant names, or hinton2006); keep the others")
    p.add_argument("--hinton-minutes", type=float, help="override the AE-30 row's time cap")
    p.add_argument("--runs-dir", default=str(ROOT / "outputs" / "bench"))
    p.add_argument("--fresh", action="store_true", help="forget earlier rows in results.json")
    args = p.parse_args(argv)
    args.data_dir = str(Path(args.data_dir).expanduser().resolve())
    from lightning_ae import config_options

    budget = BUDGETS[args.budget]
    variants = args.variants.split(",") if args.variants else budget.variants or config_options("model")
    unknown = set(variants) - set(config_options("model"))
    if unknown:
        sys.exit(f"error: unknown variants {', '.join(sorted(unknown))}; available: {', '.join(config_options('model'))}")
    variants = sorted(variants, key=lambda v: v in NEEDS)  # rows built on others go last
    datasets = args.data.split(",")
    plan = [(HINTON, "mnist")] if "mnist" in datasets else []
    plan += [(v, d) for d in datasets for v in variants]
    if args.only:
        only = set(args.only.split(","))
        plan = [(v, d) for v, d in plan if v in only]
    results = {} if args.fresh or not RESULTS_JSON.exists() else {r["row"]: r for r in json.loads(RESULTS_JSON.read_text())}
    start = time.perf_counter()
    for variant, data in plan:
        row = run_row(variant, data, budget, args.budget, args, results)
        results[row["row"]] = row
        RESULTS_JSON.write_text(json.dumps(list(results.values()), indent=1, sort_keys=True))
        print(f"[bench] {row['row']}: {row['status']}", flush=True)
    used = {r.get("budget") for r in results.values()}
    RESULTS_MD.write_text(render(results, used))
    print(f"[bench] {len(plan)} rows in {(time.perf_counter() - start) / 60:.1f} min -> {RESULTS_MD}")


if __name__ == "__main__":
    main()
