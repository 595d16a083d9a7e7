"""Evaluation on the held-out split: the metrics of SPEC 2 and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline


def _binary_scores(y: pd.Series, proba: np.ndarray, classes: list[str], positive: str) -> Any:
    """ROC AUC and average precision of ``positive``'s probability (one-vs-rest = the same)."""
    is_positive = np.asarray(y.astype(str) == positive)
    score = proba[:, classes.index(positive)]
    auc = roc_auc_score(is_positive, score)
    return {
        "roc_auc": auc,
        "average_precision": average_precision_score(is_positive, score),
        "roc_auc_ovr": auc,
    }


def evaluate(
    model: Pipeline, X: pd.DataFrame, y: pd.Series, positive_class: str | None = None
) -> dict[str, float]:
    """accuracy, macro scores, log loss, one-vs-rest ROC AUC and per-class scores; for a
    binary target also ``roc_auc`` and ``average_precision`` of ``positive_class``
    (default: the second class)."""
    classes = [str(c) for c in model.classes_]
    predicted = model.predict(X)
    proba = model.predict_proba(X)
    metrics: dict[str, float] = {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro", zero_division=0),
        "precision_macro": precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": recall_score(y, predicted, average="macro", zero_division=0),
        "log_loss": log_loss(y, proba, labels=classes),
    }
    if len(classes) == 2:
        metrics.update(_binary_scores(y, proba, classes, positive_class or classes[1]))
    else:
        metrics["roc_auc_ovr"] = roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=classes, zero_division=0
    )
    for i, name in enumerate(classes):
        metrics[f"precision_{name}"] = precision[i]
        metrics[f"recall_{name}"] = recall[i]
        metrics[f"f1_{name}"] = f1[i]
        metrics[f"support_{name}"] = support[i]
    # Plain Python numbers so that JSON and MLflow see the same values.
    return {k: (int(v) if k.startswith("support_") else float(v)) for k, v in metrics.items()}


def confusion(model: Pipeline, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """``{"labels": [...], "matrix": [[...]]}``: rows are true, columns predicted."""
    labels = [str(c) for c in model.classes_]
    matrix = confusion_matrix(y, model.predict(X), labels=labels)
    return {"labels": labels, "matrix": np.asarray(matrix).astype(int).tolist()}


def confusion_figure(matrix: dict[str, Any]) -> Figure:
    """A PNG-ready figure of the confusion matrix (no pyplot: no global backend)."""
    figure = Figure(figsize=(5, 4), dpi=100)
    axes = figure.subplots()
    display = ConfusionMatrixDisplay(np.asarray(matrix["matrix"]), display_labels=matrix["labels"])
    display.plot(ax=axes, colorbar=False)
    axes.set_title("Confusion matrix (test split)")
    figure.tight_layout()
    return figure
