"""The share of conditional samples classified as the asked class, overall and in the worst class."""
import pytest
import torch

from lightning_ae.metrics.conditional import conditional_accuracy


def test_accuracy_and_worst_class_by_hand():
    asked = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    predicted = torch.tensor([0, 0, 0, 1, 1, 1, 0, 2, 2, 2, 2, 2])  # right: 3 of 4, 2 of 4, 4 of 4
    out = conditional_accuracy(predicted, asked, num_classes=3)
    assert out["accuracy"] == pytest.approx(9 / 12)
    assert out["min_class_accuracy"] == pytest.approx(2 / 4)


def test_classes_never_asked_for_do_not_count():
    out = conditional_accuracy(torch.tensor([1, 1]), torch.tensor([1, 1]), num_classes=10)
    assert out == {"accuracy": 1.0, "min_class_accuracy": 1.0}
