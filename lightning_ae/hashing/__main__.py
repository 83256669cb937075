"""`python -m lightning_ae.hashing --ckpt <run>/checkpoints/last.ckpt [--data-dir ../shared/data]`

Builds the hash index over the training images (train + val split = all of MNIST train) from a trained
`model=hashing` checkpoint, queries it with the test images, and prints retrieval metrics (precision within
radius r, precision@k, mAP@k, mAP), index build time and queries per second — then the same for a baseline
at the same bit count (PCA sign codes by default, or LSH). The data is the checkpoint's own data config.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lightning_ae.errors import UserError, user_errors
from lightning_ae.evaluation.calls import batched
from lightning_ae.evaluation.splits import cap, training
from lightning_ae.metrics.retrieval import retrieval_metrics

from .baselines import lsh_codes, pca_sign_codes
from .index import HashIndex


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lightning_ae.hashing", description=__doc__.split("\n\n")[1])
    p.add_argument("--ckpt", required=True, help="checkpoint of a model=hashing run")
    p.add_argument("--data-dir", help="override the checkpoint's data.data_dir (e.g. ../shared/data)")
    p.add_argument("--radius", type=int, default=2)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--baseline", choices=("pca", "lsh", "both", "none"), default="pca")
    p.add_argument("--max-queries", type=int, help="use the first N test images as queries")
    p.add_argument("--max-db", type=int, help="index the first N training images")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--save-index", help="write the model's index to this .npz file")
    p.add_argument("--json", help="write all figures to this JSON file")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="unpickle --ckpt in full and build any _target_ it names, i.e. run code from it "
                        "(older checkpoints; only files you trust)")
    return p.parse_args(argv)


def load(args):
    from lightning_ae.building import build, load_model, read_checkpoint, stored_data_config

    ckpt = read_checkpoint(args.ckpt)
    model = load_model(args.ckpt, ckpt).to(args.device)
    if not callable(getattr(model, "hash_codes", None)):
        raise UserError(f"{args.ckpt} holds a {type(model).__name__}, which has no hash codes; "
                        "give the checkpoint of a model=hashing run")
    dm = build({"data": stored_data_config(ckpt["lightning_ae"]["config"], {"data_dir": args.data_dir})}, "data")
    db_x, db_y = training(dm, args.max_db, with_val=True)
    qx, qy = (cap(t, args.max_queries) for t in dm.tensors("test"))
    if (db_y < 0).any() or (qy < 0).any():
        raise UserError("retrieval metrics use class labels as relevance; this data has none")
    return model, db_x, db_y, qx, qy


def report(name: str, q_bits, qy, db_bits, db_y, args, extra: dict) -> dict:
    timings: dict = {}
    m = retrieval_metrics(q_bits, qy, db_bits, db_y, radius=args.radius, k=args.k, timings=timings)
    out = {**m, **timings, **extra, "bits": int(q_bits.shape[1]), "queries": len(q_bits), "items": len(db_bits)}
    print(f"{name:>10} | {out['bits']} bits | {out['items']} items, {int(m['buckets'])} buckets, index built in "
          f"{timings['index_build_s']:.3f} s | radius-{args.radius} look-up {timings['radius_queries_per_s']:.0f} "
          f"queries/s, ranking {timings['ranking_queries_per_s']:.0f} queries/s")
    print(f"{'':>10} | precision within radius {args.radius}: {m['precision_radius']:.4f} (hit rate "
          f"{m['hit_rate']:.3f}) | precision@{args.k}: {m['precision_at_k']:.4f} | mAP@{args.k}: "
          f"{m['map_at_k']:.4f} | mAP: {m['map']:.4f}", flush=True)
    return out


def main(argv=None) -> dict:
    from lightning_ae.safe_load import trusting

    args = parse(argv)
    with trusting(args.trust_checkpoint):
        model, db_x, db_y, qx, qy = load(args)
    t0 = time.perf_counter()
    db_bits = batched(model.hash_codes, db_x, batch_size=args.batch_size, device=args.device)
    t1 = time.perf_counter()
    q_bits = batched(model.hash_codes, qx, batch_size=args.batch_size, device=args.device)
    results = {"model": report("model", q_bits, qy, db_bits, db_y, args, {"encode_s": t1 - t0})}
    if args.save_index:
        print(f"index written to {HashIndex(db_bits).save(args.save_index)}")
    bits = int(db_bits.shape[1])
    baselines = {"pca": ("pca_sign", pca_sign_codes), "lsh": ("lsh", lsh_codes)}
    for key in (("pca", "lsh") if args.baseline == "both" else () if args.baseline == "none" else (args.baseline,)):
        name, fn = baselines[key]
        t0 = time.perf_counter()
        base_db, base_q = fn(db_x, db_x, bits), fn(db_x, qx, bits)
        results[name] = report(name, base_q, qy, base_db, db_y, args, {"encode_s": time.perf_counter() - t0})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    with user_errors():
        main()
