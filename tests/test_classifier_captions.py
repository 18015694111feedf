"""What moved off the classifier page into dlviz.classifier.captions (issue 15: pages under ~400 lines): the headline
numbers and captions say what the results measured, recounted here by hand from the predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlviz.classifier import captions as C
from dlviz.classifier.core import Results, neighbour_agreement


def _results() -> Results:
    # 3 classes; true labels and hand-made predictions with known confidences
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    preds = [0, 1, 0, 1, 1, 2, 0, 0, 2, 1]
    conf = [0.9, 0.8, 0.7, 0.6, 0.95, 0.5, 0.99, 0.4, 0.6, 0.7]
    probs = torch.zeros(10, 3)
    for i, (p, c) in enumerate(zip(preds, conf)):
        probs[i] = (1 - c) / 2
        probs[i, p] = c
    return Results(labels, probs, ["a", "b", "c"], torch.randn(10, 4))


def test_headline_metrics_are_the_predictions_counted_by_hand():
    res = _results()
    rows = {r[0]: r for r in C.headline_metrics(res, "my note")}
    correct = [1, 0, 1, 1, 1, 1, 0, 0, 1, 0]
    assert rows["Validation accuracy"][1] == f"{sum(correct) / 10:.1%}" == "60.0%"
    assert rows["Validation accuracy"][3] == "10 validation images; my note."
    recalls = [2 / 3, 2 / 2, 2 / 5]
    assert rows["Mean per-class accuracy"][1] == f"{np.mean(recalls):.1%}"
    assert rows["Worst class"][1:3] == ("c", "40.0% correct")
    wrong_conf = [0.8, 0.99, 0.4, 0.7]
    assert rows["Wrong predictions"][1:3] == ("4", f"{np.mean(wrong_conf):.0%} mean confidence")


def test_a_perfect_model_has_no_wrong_confidence_and_the_first_cell():
    res = Results(torch.tensor([0, 1]), torch.tensor([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"], torch.zeros(2, 1))
    rows = {r[0]: r for r in C.headline_metrics(res, "")}
    assert rows["Wrong predictions"][1:3] == ("0", "0% mean confidence")
    assert C.default_cell(res.confusion) == (0, 0)


def test_the_default_cell_is_the_largest_confusion():
    res = _results()
    assert C.default_cell(res.confusion) == (2, 0)                      # c -> a twice, every other mistake once
    assert res.confusion.diag().sum() == 6                              # the copy was not written into
    assert C.most_confused(res.top_confusions(1)) == "**Most confused:** c → a (2)"


def test_first_of_each_class():
    labels = torch.tensor([2, 2, 0, 1, 0, 2])
    assert C.first_of_each_class(labels, 4) == [2, 3, 0]                # class 3 has no image
    assert C.first_of_each_class(torch.arange(30), 30) == list(range(20))


def test_data_caption():
    assert C.data_caption("food", "4,000 train / 1,000 val", 10, (3, 32, 32)) == (
        "**food**: 4,000 train / 1,000 val · 10 classes · images 3x32x32. Validation images are never trained on.")
    assert "· 5 classes" not in C.data_caption("x", "5 classes", 5, (1, 8, 8))


def test_the_agreement_labels_use_the_k_the_library_uses():
    pts = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    labels = np.array([0, 0, 1, 1, 1, 1])
    k = C.NEIGHBOURS
    assert k == 10
    rows = C.agreement_metrics("PCA", 0.5, 0.75, 64)
    assert rows[0][0] == f"{k}-NN agreement, PCA map" and rows[1][0] == f"{k}-NN agreement, all 64 dims"
    assert f"each image's {k} nearest neighbours" in rows[0][2] and rows[0][1] == "50.0%"
    # and it is the agreement the library computes (brute force with k = 2 on a tiny set)
    got = neighbour_agreement(pts, labels, k=2)
    d = np.abs(pts - pts.T)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, 1)[:, :2]
    assert got == pytest.approx(float((labels[nn] == labels[:, None]).mean()))


def test_small_words():
    from dlviz.data import FOOD_CLASSES

    assert C.chance_caption(4).endswith("1/K = 25%.")
    assert f"the {len(FOOD_CLASSES)} food shapes (32×32 colour images), not digits" in C.not_food_shapes("digits")
    assert C.cell_title("a", "b", 3, False) == "Cell: true *a*, predicted *b* — 3 images (mistakes)"
    assert C.mistake_caption("a", "b", 0.876) == "a → b (88%)"
