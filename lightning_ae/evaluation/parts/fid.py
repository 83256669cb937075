"""fid/{classifier,inception}: `fid.num_samples` samples against the scored images, in the feature space of
the data set's cached classifier or of Inception (`lightning_ae.metrics.fid`); models with `can_sample`."""
from __future__ import annotations

import logging

from lightning_ae.evaluation.calls import call_with_labels
from lightning_ae.evaluation.capabilities import Samples
from lightning_ae.evaluation.splits import labelled, scored
from lightning_ae.metrics.fid import fid_score, inception_available

log = logging.getLogger("lightning_ae")


def applies(model, datamodule) -> bool:
    return isinstance(model, Samples) and bool(model.can_sample)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    f = cfg.fid
    if not labelled(datamodule) and f.extractor != "inception" and not inception_available(f.inception_weights):
        log.info("FID skipped: %s has no labels for the feature classifier and no Inception weights are set",
                 getattr(datamodule, "name", "data"))
        return {}
    x, _ = scored(datamodule, cfg)
    sample = lambda n: call_with_labels(model.sample, n, None).float()  # noqa: E731
    return fid_score(sample, x, datamodule.value_range, datamodule, f.extractor, f.inception_weights,
                     int(f.num_samples), int(cfg.batch_size), cfg.cache_dir, int(f.classifier_epochs), device)
