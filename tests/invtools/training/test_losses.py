import numpy as np
import pytest
import torch

from invtools.analysis.metrics import dice, label_metrics
from invtools.training.losses import CE_FLOOR, cross_entropy_loss, hamming_loss


def test_hamming_of_a_one_hot_assignment_is_the_fraction_labelled_wrong():
    labels = torch.tensor([[0, 1, 2, 2], [1, 1, 0, 2]])
    pred = torch.tensor([[0, 1, 1, 2], [1, 0, 0, 0]])
    z = torch.nn.functional.one_hot(pred, 3).double()
    assert float(hamming_loss(z, labels)) == pytest.approx(float((pred != labels).double().mean()))
    uniform = torch.full((2, 4, 3), 1 / 3, dtype=torch.float64)
    assert float(hamming_loss(uniform, labels)) == pytest.approx(2 / 3)


def test_cross_entropy_matches_torch_and_is_finite_on_vertices():
    logits = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (2, 5), generator=torch.Generator().manual_seed(1))
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1))
    assert float(cross_entropy_loss(torch.softmax(logits, -1), labels)) == pytest.approx(float(ref), rel=1e-6)
    wrong = torch.nn.functional.one_hot((labels + 1) % 3, 3).float()
    assert float(cross_entropy_loss(wrong, labels)) == pytest.approx(-np.log(CE_FLOOR), rel=1e-6)


def test_dice_and_label_metrics():
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    assert dice(pred[0], truth[0], 1) == pytest.approx(2 * 2 / 5)
    assert dice(pred[1], truth[1], 1) == 1.0  # absent from both
    m = label_metrics(pred, truth, 3)
    assert m["label_error"] == pytest.approx(2 / 8)
    assert m["dice_2"] == pytest.approx(np.mean([1.0, 2 * 2 / 5]))
    assert label_metrics(truth, truth, 3) == {"label_error": 0.0, "dice_0": 1.0, "dice_1": 1.0, "dice_2": 1.0}
