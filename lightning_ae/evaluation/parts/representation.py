"""probe/{linear_acc,kmeans_acc}: class information in the frozen codes (labelled data only): a linear probe
fitted on at most `probe.max_train` training codes, and K-means on the scored codes. The codes are the
model's `encode(x)`: ALAE's E(x) (its w, the paper's probe), the posterior mean μ of VAE, VAE-GAN and CVAE.
With `probe.pixels`, also probe/pixel_linear_acc: the same probe on the raw pixels, the floor a representation
claim must clear (a code that classifies no better than its input has learned nothing a linear model lacks)."""
from __future__ import annotations

from lightning_ae.evaluation.calls import batched
from lightning_ae.evaluation.capabilities import Encodes
from lightning_ae.evaluation.splits import labelled, scored, training
from lightning_ae.metrics.representation import kmeans_accuracy, linear_probe_accuracy


def applies(model, datamodule) -> bool:
    return isinstance(model, Encodes) and labelled(datamodule)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    px, py = training(datamodule, cfg.probe.max_train)
    bs, seed = int(cfg.batch_size), int(cfg.seed)
    z = batched(model.encode, x, y, bs, device).flatten(1)
    z_train = batched(model.encode, px, py, bs, device).flatten(1)
    out = {
        "probe/linear_acc": linear_probe_accuracy(z_train, py, z, y, int(cfg.probe.max_iter), seed),
        "probe/kmeans_acc": kmeans_accuracy(z, y, datamodule.num_classes, seed, int(cfg.probe.kmeans_init)),
    }
    if cfg.probe.get("pixels", False):
        out["probe/pixel_linear_acc"] = linear_probe_accuracy(px.flatten(1), py, x.flatten(1), y,
                                                              int(cfg.probe.max_iter), seed)
    return out
