"""The hand-written PyTorch loop `overhead.py` runs as a process beside `python -m lightning_ae model=vae ...`.

What a researcher would write without the framework, doing the same work as the default user run: MNIST read
from the IDX files, the same 55k/5k train/validation split (permutation seeded with data.seed 1234) and the same
per-epoch shuffles, the MLP VAE (784-512-512-2·20 encoder, 20-512-512-784 decoder, ReLU, Bernoulli likelihood),
Adam 1e-3, batch 128; per epoch a training pass, a validation pass and a checkpoint (model + optimizer
state), then a test pass. `--device cuda`: the model and the whole data set on the GPU (the images held there as
uint8, each batch a slice of them: the framework's `data.resident`). Imports torch and numpy only (and marks its phases when run under benchmarks/turns.py). Prints one JSON line: `first_step` and `epoch_ends`
(Unix times), `epoch_cpu` (the process's CPU seconds at each epoch end) and `test_loss` (the test set's mean
negative ELBO in nats).

    python benchmarks/plain_vae.py --data-dir ../shared/data --epochs 5 --out /tmp/plain
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def images_and_labels(raw: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.frombuffer((raw / f"{prefix}-images-idx3-ubyte").read_bytes(), np.uint8, offset=16)
    y = np.frombuffer((raw / f"{prefix}-labels-idx1-ubyte").read_bytes(), np.uint8, offset=8)
    return torch.from_numpy(x.reshape(-1, 784).copy()), torch.from_numpy(y.astype(np.int64))


def net(sizes: list[int]) -> nn.Sequential:
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-1])


def negative_elbo(enc, dec, x: torch.Tensor) -> torch.Tensor:
    """Per image: BCE(x, dec(z)) summed over pixels + KL(N(μ, σ²) ‖ N(0, I)), z = μ + σε."""
    mu, logvar = enc(x).chunk(2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    recon = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").flatten(1).sum(1)
    return recon + 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


@torch.no_grad()
def evaluate(enc, dec, x_all: torch.Tensor, batch_size: int) -> float:
    enc.eval(), dec.eval()
    total = sum(negative_elbo(enc, dec, x_all[i : i + batch_size].float().div(255.0)).sum().item()
                for i in range(0, len(x_all), batch_size))
    enc.train(), dec.train()
    return total / len(x_all)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--latent-dim", type=int, default=20)
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    p.add_argument("--out", default="outputs/benchmarks/plain_vae")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: model and data set held on the GPU")
    args = p.parse_args(argv)
    turns = sys.modules.get("benchmarks.turns")  # run under benchmarks/turns.py: mark the phase boundaries
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = Path(args.data_dir) / "MNIST" / "raw"
    x, _ = images_and_labels(raw, "train")
    x_test, _ = images_and_labels(raw, "t10k")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1234))
    device = torch.device(args.device)
    x_train, x_val, x_test = x[perm[5000:]].to(device), x[perm[:5000]].to(device), x_test.to(device)

    torch.manual_seed(42)
    enc = net([784, *args.hidden, 2 * args.latent_dim]).to(device)
    dec = net([args.latent_dim, *args.hidden[::-1], 784]).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    bs, first_step, epoch_ends, epoch_cpu = args.batch_size, None, [], []
    for epoch in range(args.epochs):
        if turns:
            turns.epoch_boundary()
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(1234 + epoch)).to(device)
        for b in range(len(x_train) // bs):
            if first_step is None:
                first_step = time.time()
            xb = x_train[order[b * bs : (b + 1) * bs]].float().div(255.0)
            loss = negative_elbo(enc, dec, xb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val_loss = evaluate(enc, dec, x_val, bs)
        torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "opt": opt.state_dict(), "epoch": epoch,
                    "val_loss": val_loss}, out / "last.pt")
        epoch_ends.append(time.time())
        epoch_cpu.append(time.process_time())
    if turns:
        turns.epoch_boundary()
    test_loss = evaluate(enc, dec, x_test, bs)
    print(json.dumps({"first_step": first_step, "epoch_ends": epoch_ends, "epoch_cpu": epoch_cpu,
                      "test_loss": test_loss}), flush=True)


if __name__ == "__main__":
    main()
