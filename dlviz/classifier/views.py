"""What the classifier page exports: rows for its CSV downloads and the notebook lines of its headline number."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dlviz.classifier.core import DataSplit, Results


@dataclass
class Data:
    """The page's chosen data set: ``split`` is None (with ``error`` saying why) until it can be loaded; ``key`` is
    ``(source, n_train, seed, folder, zip id, val fraction)``."""

    source: str
    key: tuple
    split: DataSplit | None
    error: str | None


def model_note(source: str, card: dict, name: str) -> str:
    """The words that say which model the numbers are of."""
    if source == "trained":
        return f"your {card.get('arch', 'model')}, {card['summary']}"
    return f"{source} `{name}`: {card.get('summary', '')}"


def confusion_rows(res: Results) -> list[dict]:
    """The confusion matrix, one row per true class: a column per predicted class, then its recall."""
    names, cm, pcc = res.class_names, res.confusion.numpy(), res.per_class_accuracy.numpy()
    return [{"true class": t, **{f"predicted {p}": int(cm[i, j]) for j, p in enumerate(names)},
             "images": int(cm[i].sum()), "recall": None if np.isnan(pcc[i]) else float(pcc[i])}
            for i, t in enumerate(names)]


def prediction_rows(res: Results, indices=None, points: np.ndarray | None = None) -> list[dict]:
    """One row per validation image (or per index in ``indices``): true and predicted class, confidence, and its
    2-D map coordinates when ``points`` is given."""
    names = res.class_names
    idx = range(len(res.labels)) if indices is None else [int(i) for i in indices]
    rows = []
    for i in idx:
        row = {"image": i, "true": names[int(res.labels[i])], "predicted": names[int(res.preds[i])],
               "confidence": float(res.confidence[i]), "correct": bool(res.labels[i] == res.preds[i])}
        if points is not None:
            row["x"], row["y"] = float(points[i, 0]), float(points[i, 1])
        rows.append(row)
    return rows


def accuracy_snippet(model: dict, data: dict) -> str:
    """Notebook lines that recompute the headline validation accuracy.

    ``model``: ``{"shipped": name}`` or ``{"file": path}`` (a downloaded or uploaded checkpoint); ``data``: the
    arguments of ``clf.load_data`` (``source``, ``n_train``, ``seed``, ``folder``, ``val_fraction``) or
    ``{"zip": file name, "seed", "val_fraction"}`` for an uploaded .zip."""
    if "shipped" in model:
        load = (f"from dlviz.checkpoints import load_shipped\n\nmodel, card = load_shipped({model['shipped']!r})\n")
    else:
        load = ("from dlviz.checkpoints import load_checkpoint\n\n"
                f"model, card = load_checkpoint({model['file']!r})   # the file you downloaded or uploaded\n")
    if "zip" in data:
        get = (f"raw = open({data['zip']!r}, 'rb').read()                 # the .zip you uploaded\n"
               f"split = clf.folder_split(clf.image_folder_from_zip(raw), {data['val_fraction']!r}, {data['seed']})\n")
    else:
        get = (f"split = clf.load_data({data['source']!r}, n_train={data['n_train']}, n_val=1000, seed={data['seed']}, "
               f"folder={data['folder']!r}, val_fraction={data['val_fraction']!r})\n")
    return ("from dlviz.classifier import core as clf\n" + load + get +
            "res = clf.evaluate(model, split.val)\n"
            "result = res.accuracy                      # share of validation images classified right\n"
            "print(f\"{result:.1%}\")\n")


def snippet_model(source: str, key: str, card: dict, label: str) -> dict:
    """What :func:`accuracy_snippet` loads for the model the page reads (``ui.Picked``'s fields): a shipped
    checkpoint by name, a live-trained model by the file name its download button gives, an upload by its name."""
    if source == "shipped":
        return {"shipped": key.split(":", 1)[1]}
    if source == "trained":
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", f"clf_{card.get('arch', 'model')}_{card.get('steps', 0)}steps")
        return {"file": f"{stem}.pt"}
    return {"file": label}


def snippet_data(data_key: tuple) -> dict:
    """:func:`accuracy_snippet`'s data from the page's data key ``(source, n_train, seed, folder, zip id, val
    fraction)``; the zip id starts with the uploaded file's name."""
    source, n_train, seed, folder, zip_id, val_fraction = data_key
    if zip_id:
        return {"zip": zip_id.split(":")[0], "seed": seed, "val_fraction": val_fraction}
    return {"source": source, "n_train": n_train, "seed": seed, "folder": folder, "val_fraction": val_fraction}
