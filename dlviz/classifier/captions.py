"""The classifier page's words: the headline numbers and the captions built from the results they report (each
number formatted here from its measurement, never typed into the text), and the fixed explanations. No Streamlit."""

from __future__ import annotations

import inspect

import numpy as np
import torch

from dlviz.classifier.core import Results, neighbour_agreement

SHIPPED_SHAPE = (3, 32, 32)          # the images the shipped food models classify
NEIGHBOURS = inspect.signature(neighbour_agreement).parameters["k"].default   # the k of the k-NN agreement

INTRO = ("Choose the data, an architecture, a loss, an optimiser and a schedule, then **Train** in the sidebar and "
         "watch train and validation accuracy part ways. Then read what the model gets wrong: the **confusion "
         "matrix** (click a cell to see its images), the most **confidently wrong** images, and a map of the "
         "**penultimate-layer features** -- the space the final linear layer has to cut into classes.")
CURVES = ("Dashed: accuracy/loss on a fixed subset of the (un-augmented) training images; solid: validation. A "
          "widening gap is over-fitting.")
CELL = ("Most confident first; the number is the probability the model gave the predicted class. Click another cell "
        "of the matrix to look there.")
MISTAKES = ("true → predicted, and the confidence in the wrong answer. Confident mistakes are often label noise, "
            "ambiguous images -- or a shortcut the model learned. Ask *why* on the Attribution page.")
EMBEDDING_HELP = ("PCA is instant and linear. UMAP (McInnes et al. 2018) keeps neighbourhoods; it runs in the "
                  "background -- the first run in a session also compiles numba code, which takes a while.")


def data_caption(name: str, note: str, num_classes: int, shape: tuple[int, int, int]) -> str:
    """The data line: its name, the split's own note, the classes (unless the note says them) and the image size."""
    c, h, _ = shape
    classes = "" if "classes" in note else f" · {num_classes} classes"
    return f"**{name}**: {note}{classes} · images {c}x{h}x{h}. Validation images are never trained on."


def first_of_each_class(labels: torch.Tensor, num_classes: int, n: int = 20) -> list[int]:
    """The index of each class's first image (classes with none are skipped), at most ``n``."""
    return [int(torch.nonzero(labels == k)[0]) for k in range(num_classes) if (labels == k).any()][:n]


def headline_metrics(res: Results, model_note: str) -> list[tuple[str, str, str | None, str | None]]:
    """The four headline numbers as (label, value, delta, help): accuracy, balanced accuracy, the worst class,
    the wrong predictions and their mean confidence."""
    pcc, names = res.per_class_accuracy, res.class_names
    worst = int(torch.nan_to_num(pcc, nan=2.0).argmin())
    wrong = res.preds != res.labels
    conf = float(res.confidence[wrong].mean()) if wrong.any() else 0.0
    return [
        ("Validation accuracy", f"{res.accuracy:.1%}", None, f"{len(res.labels)} validation images; {model_note}."),
        ("Mean per-class accuracy", f"{float(np.nanmean(pcc.numpy())):.1%}", None,
         "Balanced accuracy: every class counts the same, however many images it has."),
        ("Worst class", names[worst], f"{float(pcc[worst]):.1%} correct", None),
        ("Wrong predictions", f"{int(wrong.sum())}", f"{conf:.0%} mean confidence", None),
    ]


def default_cell(confusion: torch.Tensor) -> tuple[int, int]:
    """The confusion-matrix cell shown first: the largest off-diagonal count, (0, 0) when nothing is confused."""
    off = confusion.clone().fill_diagonal_(0)
    return tuple(int(v) for v in np.unravel_index(int(off.argmax()), off.shape)) if off.sum() else (0, 0)


def most_confused(tops: list[tuple[str, str, int]]) -> str:
    return "**Most confused:** " + "; ".join(f"{a} → {b} ({n})" for a, b, n in tops)


def cell_title(true_name: str, pred_name: str, n: int, correct: bool) -> str:
    return f"Cell: true *{true_name}*, predicted *{pred_name}* — {n} images ({'correct' if correct else 'mistakes'})"


def mistake_caption(true_name: str, pred_name: str, confidence: float) -> str:
    return f"{true_name} → {pred_name} ({confidence:.0%})"


def other_data_caption(dataset: str) -> str:
    return f"Your last run was trained on another data set ({dataset}); choose it again to read its results."


def not_food_shapes(source: str) -> str:
    from dlviz.data import FOOD_CLASSES

    c, h, w = SHIPPED_SHAPE
    return (f"The shipped models classify the {len(FOOD_CLASSES)} food shapes ({h}×{w} colour images), not {source}: "
            "choose *food "
            "shapes* as the dataset, or train (or upload) a model for these images.")


def agreement_metrics(label: str, a_2d: float, a_full: float, n_dims: int) -> list[tuple[str, str, str]]:
    """The two k-NN agreement numbers as (label, value, help)."""
    k = NEIGHBOURS
    return [(f"{k}-NN agreement, {label} map", f"{a_2d:.1%}",
             f"Average fraction of each image's {k} nearest neighbours (in the 2-D map) that share its class."),
            (f"{k}-NN agreement, all {n_dims} dims", f"{a_full:.1%}",
             "The same in the full penultimate feature space: what the 2-D picture loses or distorts.")]


def chance_caption(n_classes: int) -> str:
    return f"Click a point to see its image. Chance agreement is about 1/K = {1 / n_classes:.0%}."
