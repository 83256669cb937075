"""Framework overhead: steps/s of `model=vae` training through lightning_ae vs a plain PyTorch loop.

Both sides train the same network (built from the same config), on the same MNIST tensors, batch size
and optimizer, in one process; runs alternate (framework, plain, framework, ...) so that drift of the
machine hits both, and the ratio is taken per pair. Warm-up steps are excluded on both sides.

    .venv/bin/python benchmarks/overhead.py --data-dir ../shared/data --pairs 5 --steps 300
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate


class StepTimer(pl.Callback):
    """Wall time from the start of step `warmup` to the end of the last training step."""

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.t0 is not None:
            self.t1, self.steps = time.perf_counter(), self.steps + 1


def config(args, out: Path):
    overrides = ["model=vae", "data=mnist", f"paths.data_dir={args.data_dir}", f"paths.output_dir={out}",
                 f"data.batch_size={args.batch_size}", "trainer.accelerator=cpu", "logger=csv",
                 "callbacks=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
                 f"trainer.max_steps={args.warmup + args.steps}", "+trainer.limit_val_batches=0",
                 "+trainer.num_sanity_val_steps=0", "test=false"]
    with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def framework(cfg, dm, args) -> float:
    model = instantiate(cfg.model)
    timer = StepTimer(args.warmup)
    trainer = instantiate(cfg.trainer, callbacks=[timer], logger=[instantiate(cfg.logger.csv)])
    trainer.fit(model, datamodule=dm)
    return timer.steps / (timer.t1 - timer.t0)


def plain(cfg, dm, args) -> float:
    """The loop a researcher would write by hand: same nets, data tensors, transform, loss and Adam."""
    model = instantiate(cfg.model)  # only its encoder/decoder modules are used
    enc, dec = model.encoder, model.decoder
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=cfg.optimizer.lr)
    x_all = dm.splits["train"][0]
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x_all), generator=g)
    bs, total, t0 = args.batch_size, args.warmup + args.steps, None
    for step in range(total):
        if step == args.warmup:
            t0 = time.perf_counter()
        i = order[(step * bs) % (len(order) - bs) :][:bs]
        x = x_all[i].float().div_(255.0)
        mu, logvar = enc(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = torch.nn.functional.binary_cross_entropy_with_logits(dec(z), x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = (recon + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return args.steps / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path("outputs/benchmarks/overhead")
    cfg = config(args, out)
    dm = instantiate(cfg.data)
    dm.setup()
    ratios, fw, pl_ = [], [], []
    for k in range(args.pairs):
        torch.manual_seed(k)
        a = framework(cfg, dm, args)
        torch.manual_seed(k)
        b = plain(cfg, dm, args)
        fw.append(a), pl_.append(b), ratios.append(a / b)
        print(f"pair {k}: framework {a:.1f} steps/s, plain {b:.1f} steps/s, ratio {a / b:.3f}", flush=True)
    print(f"\nmodel=vae (MLP 784-512-256-16), batch {args.batch_size}, {args.steps} timed steps x {args.pairs} pairs, "
          f"{args.threads} threads, {platform.processor() or platform.machine()}, {date.today()}")
    print(f"framework median {statistics.median(fw):.1f} steps/s, plain median {statistics.median(pl_):.1f} steps/s")
    print(f"ratio framework/plain: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
