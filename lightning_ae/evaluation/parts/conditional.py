"""cond/{accuracy,min_class_accuracy,classifier_test_acc}: do class-conditional samples show the asked class?
(Sohn et al. 2015's CVAE; models whose `sample(n, y)` takes labels, on labelled data.)

`conditional.per_class` samples of every class are classified by the data set's cached feature classifier
(the one FID uses, `lightning_ae.metrics.fid.feature_classifier`, trained `fid.classifier_epochs` epochs);
accuracy is the share assigned to the asked class (`lightning_ae.metrics.conditional`), min_class_accuracy
that share in the worst class, and classifier_test_acc the classifier's own test accuracy, the ceiling a
reader should judge the other two by.
"""
from __future__ import annotations

import torch

from lightning_ae.evaluation.calls import takes_labels
from lightning_ae.evaluation.capabilities import Samples
from lightning_ae.evaluation.splits import labelled
from lightning_ae.metrics.conditional import conditional_accuracy
from lightning_ae.metrics.fid import feature_classifier, predict


def applies(model, datamodule) -> bool:
    return isinstance(model, Samples) and bool(model.can_sample) and takes_labels(model.sample) and \
        labelled(datamodule)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    net, test_acc = feature_classifier(datamodule, cfg.cache_dir, int(cfg.fid.classifier_epochs), device)
    classes = int(datamodule.num_classes)
    asked = torch.arange(classes).repeat_interleave(int(cfg.conditional.per_class))
    lo, hi = (float(v) for v in datamodule.value_range)
    predicted = torch.cat([predict(net, model.sample(len(yb), y=yb.to(device)).float().clamp(lo, hi), device)
                           for yb in asked.split(int(cfg.batch_size))])
    return {f"cond/{k}": v for k, v in conditional_accuracy(predicted, asked, classes).items()} | \
        {"cond/classifier_test_acc": test_acc}
