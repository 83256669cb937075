"""NVAE (`nvae_small`) vs the single-layer VAE (`vae`) on MNIST at the same wall-clock budget.

Both train on dynamically binarised MNIST (`data.binarize=dynamic`; test set: one Bernoulli draw from `data.seed`),
batch `--batch-size`, each for `--minutes` of wall clock (Lightning's `max_time`), no validation during
training. NVAE's warm-up and cosine schedules need a length: a short calibration run (not counted)
measures its steps per second and sets `model.schedule_steps` to the steps the budget allows. The VAE uses
its default config (MLP, latent 16, Adam 1e-3). Then, on the test split, with the project's evaluation code
(`lightning_ae.evaluation.parts.likelihood`): the negative ELBO (one draw per image, `--elbo-images` images) and
the importance-sampled NLL with K = `--k` draws (`--is-images` images), both in nats per image.

    # the issue's budget: 20 minutes per model
    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/nvae.py --minutes 20
    # one model per call (results merge into --out)
    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/nvae.py --minutes 4 --models nvae_small --k 20 --is-images 500
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import compose  # noqa: E402


def trainer(**kw):
    import pytorch_lightning as pl

    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      num_sanity_val_steps=0, max_epochs=-1, **kw)


class StepClock:
    """Seconds per optimizer step after the first `skip` steps."""

    def __init__(self, skip: int = 3):
        import pytorch_lightning as pl

        outer = self

        class _CB(pl.Callback):
            def on_train_batch_end(self, tr, *_):
                if tr.global_step == skip:
                    outer.start = time.perf_counter()
                outer.end, outer.steps = time.perf_counter(), tr.global_step - skip

        self.callback, self.start, self.end, self.steps = _CB(), None, None, 0

    @property
    def seconds_per_step(self) -> float:
        return (self.end - self.start) / max(self.steps, 1)


def run(name: str, args) -> dict:
    import hydra
    import pytorch_lightning as pl

    from lightning_ae.evaluation.parts.likelihood import likelihood_metrics

    overrides = [f"model={name}", "data=mnist", "data.binarize=dynamic", f"data.batch_size={args.batch_size}",
                 f"paths.data_dir={args.data_dir}"]
    cfg = compose(overrides, "outputs/bench/nvae")
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    budget_s = args.minutes * 60
    if name.startswith("nvae"):  # calibrate the schedule length on a throwaway model
        clock = StepClock()
        calib = hydra.utils.instantiate(cfg.model, schedule_steps=10_000)
        trainer(max_steps=args.calibration_steps, callbacks=[clock.callback]).fit(calib, datamodule=dm)
        cfg = compose(overrides + [f"model.schedule_steps={int(budget_s / clock.seconds_per_step)}"], "outputs/bench/nvae")
    pl.seed_everything(args.seed, workers=True)
    model = hydra.utils.instantiate(cfg.model)
    tr = trainer(max_time=datetime.timedelta(seconds=budget_s))
    start = time.perf_counter()
    tr.fit(model, datamodule=dm)
    fit_s = time.perf_counter() - start
    model.eval()
    x, _ = dm.tensors("test")
    start = time.perf_counter()
    elbo = likelihood_metrics(model.log_weights, x[: args.elbo_images], k=1, chunk=1, batch_size=500)
    iw = likelihood_metrics(model.log_weights, x[: args.is_images], k=args.k, chunk=args.k, batch_size=100)
    return {
        "model": name, "params": sum(p.numel() for p in model.parameters()), "steps": tr.global_step,
        "epochs": tr.global_step / len(dm.train_dataloader()), "fit_s": round(fit_s, 1),
        "schedule_steps": getattr(model, "schedule_steps", None),
        "neg_elbo": elbo["neg_elbo"], "elbo_images": min(args.elbo_images, len(x)),
        "nll_is": iw["nll_is"], "neg_elbo_on_is_images": iw["neg_elbo"], "is_k": args.k,
        "is_images": min(args.is_images, len(x)), "eval_s": round(time.perf_counter() - start, 1),
        "budget_min": args.minutes, "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads, "
                   f"{__import__('os').cpu_count()} cores), CPU only",
        "date": datetime.date.today().isoformat(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget per model")
    p.add_argument("--models", default="nvae_small,vae")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--k", type=int, default=100, help="importance samples for the IS-NLL")
    p.add_argument("--is-images", type=int, default=2000, help="test images for the IS-NLL")
    p.add_argument("--elbo-images", type=int, default=10000, help="test images for the negative ELBO")
    p.add_argument("--calibration-steps", type=int, default=15)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "nvae.json"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for name in args.models.split(","):
        results[name] = run(name, args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
    print("| model | params | budget | steps | epochs | −ELBO (nats) | IS-NLL (nats, K) | machine | date |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results.values():
        print(f"| {r['model']} | {r['params'] / 1e6:.2f}M | {r['budget_min']:g} min | {r['steps']} "
              f"| {r['epochs']:.2f} "
              f"| {r['neg_elbo']:.2f} ({r['elbo_images']} img) "
              f"| {r['nll_is']:.2f} (K={r['is_k']}, {r['is_images']} img) "
              f"| {r['machine']} | {r['date']} |")


if __name__ == "__main__":
    main()
