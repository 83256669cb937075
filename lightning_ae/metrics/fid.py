"""Fréchet distance between generated samples and test images, in the feature space of a fixed network.

    FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½)          (Heusel et al. 2017)

computed by torchmetrics' `FrechetInceptionDistance`. The feature network is a setting
(`evaluation.fid.extractor`):
- `inception`: torchmetrics' Inception-v3 pool features (2048-d). Needs the `torch-fidelity` package and
  its weights file on disk (`evaluation.fid.inception_weights`): nothing is downloaded at run time.
  The metric is reported as `fid/inception`.
- `classifier`: a small conv net trained once by this project on the same data set's training labels
  (`FeatureClassifier`), cached under `evaluation.cache_dir`; its 128-d penultimate layer gives the
  features. The metric is reported as `fid/classifier` (with the classifier's test accuracy in
  `fid/classifier_accuracy`); it ranks models on one data set but is NOT comparable with published FIDs.
- `auto` (default): inception where both the package and the weights are present, otherwise classifier.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import nn

from lightning_ae.errors import UserError

log = logging.getLogger("lightning_ae")

CLASSIFIER_VERSION = 1  # bump when FeatureClassifier or its training changes: old caches are ignored


class FeatureClassifier(nn.Module):
    """conv32 → pool → conv64 → pool → 128 features → classes; works on any image size (adaptive pooling)."""

    num_features = 128  # torchmetrics reads this instead of running a dummy image

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        act = nn.SiLU
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), act(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, padding=1), act(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(), nn.Linear(64 * 16, self.num_features), act(),
        )
        self.head = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (what FID compares)."""
        return self.features(x.float())

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.float()))


def data_digest(x: torch.Tensor, y: torch.Tensor, value_range) -> str:
    """A short fingerprint of a training split, so a cached classifier is only reused on the same data."""
    h = hashlib.sha1()
    for t in (x.contiguous(), y.contiguous()):
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
    h.update(repr((tuple(float(v) for v in value_range), CLASSIFIER_VERSION)).encode())
    return h.hexdigest()[:16]


@torch.enable_grad()
def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int = 3, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, device="cpu") -> FeatureClassifier:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = FeatureClassifier(x.shape[1], num_classes).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(max(1, epochs)):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(net.logits(x[idx].to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def predict(net: FeatureClassifier, x: torch.Tensor, device="cpu", batch_size: int = 1000) -> torch.Tensor:
    """The classifier's class for each image of x (data space), on the CPU."""
    return torch.cat([net.logits(x[i : i + batch_size].to(device)).argmax(1).cpu()
                      for i in range(0, len(x), batch_size)])


def accuracy(net: FeatureClassifier, x: torch.Tensor, y: torch.Tensor, device="cpu", batch_size: int = 1000) -> float:
    return float((predict(net, x, device, batch_size) == y).double().mean()) if len(x) else 0.0


def feature_classifier(datamodule, cache_dir: str | Path, epochs: int = 3, device="cpu") -> tuple[FeatureClassifier, float]:
    """The data set's classifier and its test accuracy: from the cache, or trained once and cached."""
    if datamodule.num_classes < 2:
        raise UserError(f"{getattr(datamodule, 'name', 'data')}: no class labels to train the FID feature "
                        "classifier; set evaluation.parts.fid=false or give evaluation.fid.inception_weights")
    x, y = datamodule.tensors("train")
    if (y < 0).any():
        raise UserError(f"{getattr(datamodule, 'name', 'data')} has unlabelled images; the FID classifier needs "
                        "labels: set evaluation.parts.fid=false or give evaluation.fid.inception_weights")
    name = f"fid_classifier_{getattr(datamodule, 'name', 'data')}_{'x'.join(map(str, x.shape[1:]))}_" \
           f"{data_digest(x, y, datamodule.value_range)}_e{epochs}.pt"
    path = Path(cache_dir).expanduser() / name
    net = FeatureClassifier(x.shape[1], datamodule.num_classes)
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(saved["state_dict"])
            return net.to(device).eval(), float(saved["test_accuracy"])
        except Exception as e:  # a partial or stale file: train again
            log.warning("ignoring unreadable FID classifier cache %s (%s)", path, type(e).__name__)
    log.info("training the FID feature classifier for %s (%d epochs; cached in %s)", datamodule.name, epochs, path)
    net = train_classifier(x, y, datamodule.num_classes, epochs=epochs, device=device)
    tx, ty = datamodule.tensors("test")
    acc = accuracy(net, tx, ty, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": net.cpu().state_dict(), "test_accuracy": acc, "epochs": epochs}, tmp)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return net.to(device).eval(), acc


def classifier_id(net: FeatureClassifier) -> float:
    """The first 48 bits of the SHA-1 of the classifier's weights, as a number (exact in a float64): rows that
    compare FIDs must show the same id, i.e. the same cached classifier (`report.py` prints it in hex)."""
    h = hashlib.sha1()
    for key, value in sorted(net.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return float(int(h.hexdigest()[:12], 16))


def inception_available(weights: str | None) -> bool:
    import importlib.util

    return bool(weights) and Path(str(weights)).expanduser().is_file() and \
        importlib.util.find_spec("torch_fidelity") is not None


@torch.no_grad()
def fid_score(sample, real: torch.Tensor, value_range, datamodule, extractor: str = "auto",
              inception_weights: str | None = None, num_samples: int = 10000, batch_size: int = 500,
              cache_dir: str | Path = "~/.cache/lightning_ae", classifier_epochs: int = 3,
              device="cpu") -> dict[str, float]:
    """FID of `sample(n)` images against `real` images (data space); keys name the feature network used."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if extractor not in ("auto", "inception", "classifier"):
        raise UserError(f"evaluation.fid.extractor must be auto, inception or classifier, got {extractor!r}")
    use_inception = extractor == "inception" or (extractor == "auto" and inception_available(inception_weights))
    out: dict[str, float] = {}
    lo, hi = (float(v) for v in value_range)
    if use_inception:
        if not inception_available(inception_weights):
            raise UserError("evaluation.fid.extractor=inception needs the torch-fidelity package and "
                            "evaluation.fid.inception_weights=<path to the Inception weights file>")
        metric = FrechetInceptionDistance(feature=2048, normalize=True,
                                          feature_extractor_weights_path=str(Path(inception_weights).expanduser()))

        def prep(im):  # Inception wants 3 channels in [0, 1]
            im = ((im.float() - lo) / (hi - lo)).clamp(0, 1)
            return im.expand(-1, 3, -1, -1) if im.shape[1] == 1 else im

        key = "fid/inception"
    else:
        net, acc = feature_classifier(datamodule, cache_dir, classifier_epochs, device)
        metric = FrechetInceptionDistance(feature=net)
        prep = lambda im: im.float().clamp(lo, hi)  # noqa: E731  (the classifier saw data-space images)
        key, out["fid/classifier_accuracy"], out["fid/classifier_id"] = "fid/classifier", acc, classifier_id(net)
    metric = metric.to(device)
    real = real[:num_samples]
    for i in range(0, len(real), batch_size):
        metric.update(prep(real[i : i + batch_size].to(device)), real=True)
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        metric.update(prep(sample(n).to(device)), real=False)
        done += n
    out[key] = float(metric.compute())
    out["fid/samples"] = float(num_samples)
    return out
