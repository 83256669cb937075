"""Steps/s of each non-adversarial variant through lightning_ae beside a hand-written twin, in one process.

For every variant both sides build the model from the same config (`model=<name> data=mnist`, same seed),
train the same number of steps on batches of the same MNIST tensors (`datamodule.splits["train"]`, uint8
scaled to [0, 1]) with the same optimizer, and alternate (framework, twin, framework, ...) `--rounds` times;
the ratio framework/twin is taken per round and its median reported (issue 14 target: ≥ 0.9).

- framework: `Trainer` from the config's trainer with the default callbacks and the CSV logger (the user's
  path), validation off (`limit_val_batches=0`), progress bar off unless `--progress-bar` (overhead.py
  measures the bar on the default path), timed from step `--warmup` on.
- twin: the loop a researcher would write around the same networks (`model.encoder`, `model.decoder`,
  the quantiser, NVAE's hierarchy ...) with the loss written out here, from the model's docstring.

`RUNNERS` maps a name to its (framework runner, twin runner); the adversarial rows of
`benchmarks/adversarial_speed.py` can join the same table with runners of the same shape:
`runner(cfg, data, steps, warmup) -> (steps per wall second, steps per CPU second)`. On a shared machine the
CPU-time ratio is the steadier figure (other jobs stretch the wall clock of whichever side they overlap).
For the reported numbers, on an otherwise idle machine:

    .venv/bin/python benchmarks/twins.py --data-dir ../shared/data --rounds 3 --steps 100
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import StepTimer, clocks, compose, rates  # noqa: E402

OUT = ROOT / "outputs" / "benchmarks" / "twins"


def framework(cfg, data, steps: int, warmup: int) -> tuple[float, float]:
    """Steps per wall and per CPU second of `trainer.fit`: the config's model, trainer, default callbacks and the
    CSV logger."""
    from hydra.utils import instantiate

    model = instantiate(cfg.model)
    timer = StepTimer(warmup)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c and "_target_" in c] + [timer]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=[instantiate(cfg.logger.csv)])
    trainer.fit(model, datamodule=data)
    return timer.steps_per_second()


def loop(step, opt, data, steps: int, warmup: int, device, schedule=None) -> tuple[float, float]:
    """The twin's training loop: `step(x, y) -> loss` on batches of the data tensors; steps per wall and per CPU
    second after `warmup`."""
    x_all, y_all = data.splits["train"]
    order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(0))
    bs, t0 = data.batch_size, None
    for k in range(warmup + steps):
        if k == warmup:
            t0 = clocks()
        i = order[(k * bs) % (len(order) - bs):][:bs]
        x, y = x_all[i].to(device).float().div_(255.0), y_all[i].to(device)
        loss = step(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()
    return rates(steps, t0, clocks())


def built(cfg, device):
    from hydra.utils import instantiate

    model = instantiate(cfg.model).to(device).train()
    return model, instantiate(cfg.model.optimizer)(model.parameters())


def bce(logits, x):
    """Bernoulli negative log-likelihood per image, summed over pixels."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


# Each `<name>_loss(m, c, total)` returns the twin's `step(x, y) -> loss` around model m's networks; c is the
# model config, total the number of steps the run will take. Data are Bernoulli (MNIST).
def ae_loss(m, c, total):
    return lambda x, y: bce(m.decoder(m.encoder(x)), x).mean()


def gaussian_elbo(m, c, x, features, decode):
    """β-weighted negative ELBO with q = N(μ, σ²) from `features`, z = μ + σε, and `decode(z)` the logits."""
    mu, logvar = features.chunk(2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    return (bce(decode(z), x) + c.beta * gaussian_kl(mu, logvar)).mean()


def vae_loss(m, c, total):
    return lambda x, y: gaussian_elbo(m, c, x, m.encoder(x), m.decoder)


def cvae_loss(m, c, total):
    def step(x, y):
        e = m.label_embedding(y)
        features = m.head(torch.cat([m.encoder(x), e], 1))
        return gaussian_elbo(m, c, x, features, lambda z: m.decoder(torch.cat([z, e], 1)))

    return step


def hashing_loss(m, c, total):
    def step(x, y):
        a = m.encoder(x)
        return bce(m.decoder(torch.sigmoid(a + c.noise_std * torch.randn_like(a))), x).mean()

    return step


def vqvae_loss(m, c, total):
    """recon = MSE of the linear decoder output / Var[x of the first batch], + codebook (0 with EMA) +
    β·commitment; the quantiser module (nearest code, EMA, restarts, straight-through) is the net's."""
    variance = None

    def step(x, y):
        nonlocal variance
        variance = x.var() if variance is None else variance
        q = m.quantizer(m.encoder(x))
        recon = (m.decoder(q["z_q"]) - x).pow(2).mean() / variance
        return recon + q["codebook"].mean() + c.beta * q["commitment"].mean()

    return step


def nvae_loss(m, c, total):
    """NVAE's training loss around the model's hierarchy: pad to a multiple of the model's factor, Bernoulli
    NLL of the cropped output, KL per group with the warm-up coefficient and balancing (the model's α), the
    spectral regulariser."""
    from lightning_ae.nets.nvae import batchnorm_scales, spectral_norms

    h, w = m.shape[1:]
    ph, pw = (m.factor * math.ceil(n / m.factor) for n in (h, w))
    top, left, t = (ph - h) // 2, (pw - w) // 2, 0

    def step(x, y):
        nonlocal t
        out, groups = m.net.top_down(m.net.bottom_up(F.pad(x, (left, pw - w - left, top, ph - h - top))))
        recon = bce(out[:, :, top:top + h, left:left + w], x)
        kl_all = torch.stack([q.kl(p) for _, q, p in groups], 1)
        beta = min(max((t - c.kl_constant * total) / (c.kl_warmup * total), c.kl_min), 1.0)
        t += 1
        if c.kl_balance and beta < 1.0:
            gamma = (kl_all.detach().abs().mean(0) + 0.01) / m.kl_alpha
            kl = (kl_all * (gamma / gamma.mean())).sum(1)
        else:
            kl = kl_all.sum(1)
        spectral = spectral_norms(m.net, c.power_iterations) + batchnorm_scales(m.net)
        return (recon + beta * kl).mean() + c.spectral_coeff * spectral

    return step


def nvae_schedule(opt, c, total):
    """Linear warm-up over lr_warmup·total steps, then cosine down to lr_min, stepped per step."""
    warm, floor = max(1, round(c.lr_warmup * total)), c.lr_min / c.optimizer.lr

    def factor(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min((t - warm) / max(1, total - warm), 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def twin(make_loss, make_schedule=None):
    """A twin runner: the model's networks from the config, `make_loss`'s step, the config's optimizer."""

    def run(cfg, data, steps: int, warmup: int) -> tuple[float, float]:
        device = "cuda" if cfg.trainer.accelerator == "gpu" else "cpu"
        m, opt = built(cfg, device)
        schedule = make_schedule(opt, cfg.model, warmup + steps) if make_schedule else None
        return loop(make_loss(m, cfg.model, warmup + steps), opt, data, steps, warmup, device, schedule)

    return run


LOSSES = {"ae": ae_loss, "vae": vae_loss, "cvae": cvae_loss, "vqvae": vqvae_loss, "hashing": hashing_loss,
          "nvae_small": nvae_loss}
RUNNERS = {name: (framework, twin(loss, nvae_schedule if name == "nvae_small" else None))
           for name, loss in LOSSES.items()}


def config(name: str, args):
    overrides = [f"model={name}", "data=mnist", f"paths.data_dir={args.data_dir}", "logger=csv",
                 f"trainer.accelerator={args.accelerator}", f"trainer.max_steps={args.warmup + args.steps}",
                 "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false",
                 f"trainer.enable_progress_bar={str(args.progress_bar).lower()}"]
    return compose(overrides, output_dir=str(OUT / name))


def main(argv=None) -> dict[str, dict[str, list[float]]]:
    from hydra.utils import instantiate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--models", default=",".join(RUNNERS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--progress-bar", action="store_true")
    args = p.parse_args(argv)
    args.data_dir = str(Path(args.data_dir).resolve())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, {args.accelerator}, {date.today()}; {args.steps} steps after {args.warmup}", flush=True)
    ratios: dict[str, dict[str, list[float]]] = {}
    for name in args.models.split(","):
        cfg = config(name, args)
        data = instantiate(cfg.data)
        data.setup()
        fw_runner, twin_runner = RUNNERS[name]
        for r in range(args.rounds):
            torch.manual_seed(r)
            a = fw_runner(cfg, data, args.steps, args.warmup)
            torch.manual_seed(r)
            b = twin_runner(cfg, data, args.steps, args.warmup)
            row = ratios.setdefault(name, {"wall": [], "cpu": []})
            row["wall"].append(a[0] / b[0])
            row["cpu"].append(a[1] / b[1])
            print(f"  {name} round {r}: framework {a[0]:7.2f} steps/s ({a[1]:7.2f} per CPU s), twin {b[0]:7.2f} "
                  f"({b[1]:7.2f}), ratio {a[0] / b[0]:.3f} wall, {a[1] / b[1]:.3f} CPU", flush=True)
    print("\n| variant | framework/twin, wall (median, min–max) | framework/twin, CPU time (median, min–max) | target |"
          "\n|---|---|---|---|")
    for name, row in ratios.items():
        cells = [f"{statistics.median(v):.3f} ({min(v):.3f}–{max(v):.3f})" for v in (row["wall"], row["cpu"])]
        print(f"| {name} | {cells[0]} | {cells[1]} | ≥ 0.9 |")
    return ratios


if __name__ == "__main__":
    main()
