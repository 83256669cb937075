"""VQ-VAE on MNIST: reconstruction error and codebook use on the 10,000 test images.

Trains `model=vqvae` (EMA codebook, K codes of size D, the paper's conv net with `--hidden` channels, a 7×7
code grid) for `--minutes` of wall clock (or `--epochs`) and reports, on the test set in [0, 1]:
SSE per image (squared error summed over the 784 pixels, mean over images), MSE per pixel, MSE divided by
the test pixel variance (the "normalised MSE" of VQ-VAE reproductions), codebook perplexity exp(H) and the
share of dead codes (never used on the test set).

    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/vqvae.py --minutes 4            # the run we report
    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/vqvae.py --minutes 0 --epochs 20 # a longer one
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import compose  # noqa: E402
from benchmarks.hashing import machine, train  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("LIGHTNING_AE_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--minutes", type=float, default=4.0, help="training wall clock cap (0: none)")
    p.add_argument("--epochs", type=int, default=20, help="training epoch cap")
    p.add_argument("--num-codes", type=int, default=512)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--out", default=str(ROOT / "outputs" / "benchmarks" / "vqvae.json"))
    args = p.parse_args(argv)

    from lightning_ae.metrics.codebook import codebook_usage

    cfg = compose(["model=vqvae", "data=mnist", f"paths.data_dir={args.data_dir}", f"model.num_codes={args.num_codes}",
                   f"model.latent_dim={args.dim}", f"model.net.hidden={args.hidden}", "optimizer.lr=2e-4"])
    model, dm, fit = train(cfg, args.minutes, args.epochs, args.accelerator)
    x, _ = dm.tensors("test")
    sse, idx = [], []
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb = x[i : i + 1000].to(model.device)
            idx.append(model.code_indices(xb).cpu())
            sse.append((model.reconstruct(xb).float().cpu() - xb.cpu()).pow(2).flatten(1).sum(1))
    sse = torch.cat(sse)
    mse = sse.mean().item() / x[0].numel()
    usage = codebook_usage(torch.cat(idx), model.num_codes)
    row = {"sse_per_image": sse.mean().item(), "mse": mse, "normalised_mse": mse / x.var().item(), **usage,
           "num_codes": model.num_codes, "dim": model.latent_dim, "grid": list(model.grid)}
    result = {"benchmark": "vqvae", **fit, "budget": f"{args.minutes} min / {args.epochs} epochs cap",
              "machine": machine(), "date": datetime.date.today().isoformat(), "torch": torch.__version__, "test": row}
    print(f"VQ-VAE K={model.num_codes} D={model.latent_dim} hidden={args.hidden}: SSE/img {row['sse_per_image']:.3f}  "
          f"MSE {mse:.5f}  normalised MSE {row['normalised_mse']:.4f}  perplexity {usage['perplexity']:.1f}  "
          f"dead {usage['dead_share']:.3f}  ({fit['epochs']} epochs, {fit['train_s']} s, {result['machine']})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
