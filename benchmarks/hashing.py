"""Semantic hashing on MNIST at 32 bits: the model against PCA-sign codes (and optionally LSH).

Trains `model=hashing` (MLP 784-512-256-B, noise before the sigmoid) for `--minutes` of wall clock (or
`--epochs`), then indexes all 60,000 MNIST training images (train + val split) and queries with the 10,000
test images: mAP (full Hamming ranking) and precision within Hamming radius 2, precision@100, index build
time and queries/s of the radius-2 hash look-up and of the exhaustive ranking. Labels are relevance.

    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/hashing.py --minutes 2.5      # the run we report
    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/hashing.py --epochs 50 --minutes 0 --lsh   # longer
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import compose  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} GPU"
    return f"{cpu} CPU, {os.cpu_count()} cores"


def train(cfg, minutes: float, epochs: int, accelerator: str):
    import hydra
    import pytorch_lightning as pl

    pl.seed_everything(cfg.seed, workers=True)
    dm, model = hydra.utils.instantiate(cfg.data), hydra.utils.instantiate(cfg.model)
    trainer = pl.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0, max_epochs=epochs,
                         max_time=datetime.timedelta(minutes=minutes) if minutes > 0 else None)
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    done = trainer.fit_loop.epoch_loop.batch_progress.total.completed / max(len(dm.train_dataloader()), 1)
    return model.eval(), dm, {"train_s": round(time.perf_counter() - start, 1), "epochs": round(done, 2)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("LIGHTNING_AE_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--minutes", type=float, default=2.5, help="training wall clock cap (0: none)")
    p.add_argument("--epochs", type=int, default=30, help="training epoch cap")
    p.add_argument("--lsh", action="store_true", help="also score LSH random-projection codes")
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--out", default=str(ROOT / "outputs" / "benchmarks" / "hashing.json"))
    args = p.parse_args(argv)

    from lightning_ae.evaluation.calls import batched
    from lightning_ae.hashing import lsh_codes, pca_sign_codes
    from lightning_ae.metrics.retrieval import retrieval_metrics

    cfg = compose(["model=hashing", "data=mnist", f"paths.data_dir={args.data_dir}", f"model.latent_dim={args.bits}"])
    model, dm, fit = train(cfg, args.minutes, args.epochs, args.accelerator)
    (tx, ty), (vx, vy), (qx, qy) = dm.tensors("train"), dm.tensors("val"), dm.tensors("test")
    db_x, db_y = torch.cat([tx, vx]), torch.cat([ty, vy])
    rows = {}
    device = model.device
    sets = {"model": lambda: (batched(model.hash_codes, db_x, batch_size=2000, device=device),
                              batched(model.hash_codes, qx, batch_size=2000, device=device)),
            "pca_sign": lambda: (pca_sign_codes(db_x, db_x, args.bits), pca_sign_codes(db_x, qx, args.bits))}
    if args.lsh:
        sets["lsh"] = lambda: (lsh_codes(db_x, db_x, args.bits), lsh_codes(db_x, qx, args.bits))
    for name, make in sets.items():
        t0 = time.perf_counter()
        db_bits, q_bits = make()
        timings = {"encode_s": time.perf_counter() - t0}
        m = retrieval_metrics(q_bits, qy, db_bits, db_y, radius=2, k=100, timings=timings)
        rows[name] = {**m, **{k: round(v, 4) for k, v in timings.items()}}
        print(f"{name:>9}: mAP {m['map']:.4f}  prec@r2 {m['precision_radius']:.4f} (hits {m['hit_rate']:.3f})  "
              f"prec@100 {m['precision_at_k']:.4f}  buckets {int(m['buckets'])}  build {timings['index_build_s']:.3f} s  "
              f"r2 look-up {timings['radius_queries_per_s']:.0f} q/s  ranking {timings['ranking_queries_per_s']:.0f} q/s",
              flush=True)
    result = {"benchmark": "hashing", "bits": args.bits, "items": len(db_x), "queries": len(qx), **fit,
              "budget": f"{args.minutes} min / {args.epochs} epochs cap", "machine": machine(),
              "date": datetime.date.today().isoformat(), "torch": torch.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"trained {fit['epochs']} epochs in {fit['train_s']} s on {result['machine']}; written {args.out}")
    return result


if __name__ == "__main__":
    main()
