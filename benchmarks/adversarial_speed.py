"""Training speed of the adversarial variants in Lightning next to a hand-written PyTorch loop of the same steps.

For ACAI, VAE-GAN and ALAE (default config on `--data`, batch 64): the Lightning model trains on a fixed list
of batch tensors, and a plain loop trains a copy of the same networks (same initial weights, the optimizers of
the model's own `configure_optimizers`) on the same tensors with the same losses and optimizer steps, written
out below in plain PyTorch (checked before timing: from the same weights and seed, one batch of the twin
ends on exactly the Lightning model's weights). Both run in one process, alternated (ACAI, VAE-GAN, ALAE; Lightning then plain) for
`--rounds` rounds, so that load from other processes hits both alike. Reported per variant: the median over
rounds of each side's batches/s and of their ratio (Lightning / plain; 1.0 = no overhead, target ≥ 0.9).

Threads: `--threads 1` by default. On a small shared machine a second OpenMP thread spin-waits for a core that
another process holds, which made a batch up to 30× slower (ALAE: 0.4 batches/s at 2 threads on 2 busy cores,
12 batches/s at 1); that is contention, not the model, and it hits the plain loop alike.

Where ALAE's time goes (torch.profiler, 1 thread, the plain loop): step 1 (E, D with R1's double backward)
41 % of a batch, step 2 (F, G) 18 %, the two latent steps 23 %; Adam's updates of the 1024-wide layers are
28 % of all of it (single-tensor Adam on CPU; `fused=True` measured 15-20 % faster per batch).

    flock /tmp/lae-bench.lock .venv/bin/python benchmarks/adversarial_speed.py --rounds 5 --batches 20
"""
from __future__ import annotations

import argparse
import copy
import datetime
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import compose  # noqa: E402


# -- the hand-written twins: each variant's losses and optimizer steps in plain PyTorch ------------------------
def step(opt, loss):
    opt.zero_grad()
    loss.backward()
    opt.step()


def acai_step(m, opts, x):
    z = m.encoder(x)
    x_hat = m.decode(z)
    alpha = 0.5 - (torch.rand(len(x)) - 0.5).abs()
    a = alpha.view(-1, *([1] * (z.dim() - 1)))
    x_mix = m.decode(a * z + (1 - a) * z.flip(0))
    step(opts[0], (x_hat - x).pow(2).mean() + m.lam * m.critic(x_mix).pow(2).mean())
    blend = m.gamma * x + (1 - m.gamma) * x_hat.detach()
    step(opts[1], (m.critic(x_mix.detach()) - alpha).pow(2).mean() + m.critic(blend).pow(2).mean())


def vaegan_step(m, opts, x):
    bce = F.binary_cross_entropy_with_logits
    z_p = torch.randn(len(x), m.latent_dim)
    mu, logvar = m.encoder(x).chunk(2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    l_real, f_real = (t.detach() for t in m.discriminator(x))
    prior = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    step(opts[0], m.prior_weight * prior + 0.5 * (f_real - m.discriminator(m.decode(z))[1]).pow(2).sum(1).mean())
    x_tilde, x_p = m.decode(z.detach()), m.decode(z_p)
    (l_tilde, f_tilde), l_p = m.discriminator(x_tilde), m.discriminator(x_p)[0]
    llike = 0.5 * (f_real - f_tilde).pow(2).sum(1).mean()
    ones, zeros = torch.ones(len(x)), torch.zeros(len(x))
    fake_cost = 0.5 * (bce(l_tilde.detach(), zeros) + bce(l_p.detach(), zeros))
    step_decoder, step_discriminator = m.balance(bce(l_real, ones).item(), fake_cost.item())
    if step_decoder:
        step(opts[1], m.gamma * llike + bce(l_tilde, ones) + bce(l_p, ones))
    if step_discriminator:
        step(opts[2], bce(m.discriminator(x)[0], ones) + 0.5 * (bce(m.discriminator(x_tilde.detach())[0], zeros)
                                                               + bce(m.discriminator(x_p.detach())[0], zeros)))


def alae_step(m, opts, x):
    score = lambda im: m.discriminator(m.encoder(im)).squeeze(1)  # noqa: E731
    z = torch.randn(len(x), m.latent_dim)
    with torch.no_grad():
        w = m.mapping(z)
        fake = m.decode(w)
    real = x.detach().requires_grad_(True)
    real_score = score(real)
    (grad,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
    r1 = grad.pow(2).flatten(1).sum(1).mean()
    step(opts[0], F.softplus(score(fake)).mean() + F.softplus(-real_score).mean() + 0.5 * m.r1_gamma * r1)
    step(opts[1], F.softplus(-score(m.decode(m.mapping(z)))).mean())
    with torch.no_grad():
        w = m.mapping(z)
    for opt in opts:
        step(opt, (m.encoder(m.decode(w)) - w).pow(2).mean())


TWINS = {"acai": acai_step, "vaegan": vaegan_step, "alae": alae_step}


# -- timing ----------------------------------------------------------------------------------------------------
class BatchTimer(pl.Callback):
    """Wall time of each training batch after the first `warmup`."""

    def __init__(self, warmup: int):
        self.warmup, self.times, self._start = warmup, [], 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self.times.append(time.perf_counter() - self._start)


def fit(model, batches, callback: pl.Callback) -> None:
    """One epoch over `batches` (a list of ready batches), with nothing else running."""
    pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, max_epochs=1,
               callbacks=[callback]).fit(model, DataLoader(batches, batch_size=None))


class SeedEachBatch(pl.Callback):
    """Seeds the global RNG with the batch index at batch start, so a twin can draw the same noise."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        torch.manual_seed(batch_idx)


def check_twin(name: str, model, batch) -> None:
    """From the same weights and seed, one batch of the twin must land on exactly the Lightning model's weights."""
    lit, twin = copy.deepcopy(model), copy.deepcopy(model)
    fit(lit, [batch], SeedEachBatch())
    torch.manual_seed(0)
    TWINS[name](twin, twin.configure_optimizers()[0], batch[0])
    if any(not torch.equal(a, b) for a, b in zip(lit.parameters(), twin.parameters())):
        raise RuntimeError(f"the hand-written {name} loop no longer takes the model's steps; update it")


def lightning_rate(model, batches, warmup: int) -> float:
    timer = BatchTimer(warmup)
    fit(model, batches, timer)
    return len(timer.times) / sum(timer.times)


def plain_rate(name, twin, opts, batches, warmup: int) -> float:
    twin.train()
    times = []
    for i, (x, _) in enumerate(batches):
        start = time.perf_counter()
        TWINS[name](twin, opts, x)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return len(times) / sum(times)


def main(argv=None) -> dict:
    import hydra

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--rounds", type=int, default=5, help="alternated rounds (Lightning, plain) per variant")
    p.add_argument("--batches", type=int, default=20, help="timed batches per side and round (after --warmup)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads (see the docstring on contention)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pl.seed_everything(0, verbose=False)

    sides = {}
    for name in TWINS:
        cfg = compose([f"model={name}", f"data={args.data}", "data.batch_size=64"])
        datamodule, model = hydra.utils.instantiate(cfg.data), hydra.utils.instantiate(cfg.model)
        datamodule.setup("fit")
        batches = list(itertools.islice(itertools.cycle(datamodule.train_dataloader()), args.batches + args.warmup))
        check_twin(name, model, batches[0])
        twin = copy.deepcopy(model)
        sides[name] = (model, twin, twin.configure_optimizers()[0], batches)

    rates = {name: {"lightning": [], "plain": []} for name in TWINS}
    for _ in range(args.rounds):
        for name, (model, twin, opts, batches) in sides.items():
            rates[name]["lightning"].append(lightning_rate(model, batches, args.warmup))
            rates[name]["plain"].append(plain_rate(name, twin, opts, batches, args.warmup))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\ndata={args.data}, batch 64, default nets, {args.rounds} alternated rounds × {args.batches} timed batches; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, {args.threads} thread(s), load {load:.1f}, "
          f"torch {torch.__version__}, {datetime.datetime.now().isoformat(timespec='minutes')}")
    print("| model | Lightning batches/s | plain PyTorch batches/s | ratio (median of rounds) | ratio range |")
    print("|---|---|---|---|---|")
    summary = {}
    for name, r in rates.items():
        ratios = [a / b for a, b in zip(r["lightning"], r["plain"])]
        summary[name] = {"lightning": statistics.median(r["lightning"]), "plain": statistics.median(r["plain"]),
                         "ratio": statistics.median(ratios), "ratios": ratios}
        s = summary[name]
        print(f"| {name} | {s['lightning']:.1f} | {s['plain']:.1f} | {s['ratio']:.2f} | "
              f"{min(ratios):.2f}–{max(ratios):.2f} |")
    return summary


if __name__ == "__main__":
    main()
