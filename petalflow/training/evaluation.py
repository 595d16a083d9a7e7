"""Evaluation on the held-out split: the metrics of SPEC 2 and the confusion matrix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
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


@dataclass(frozen=True)
class Predictions:
    """A fitted pipeline's answers on the held-out rows, computed once for every score,
    the confusion matrix and the evaluation plots."""

    classes: list[str]  # the model's classes, in its column order
    predicted: np.ndarray  # model.predict
    proba: np.ndarray  # model.predict_proba


def predict(model: Pipeline, X: pd.DataFrame) -> Predictions:
    """``model``'s predicted classes and probabilities on ``X``: a pipeline's steps
    transform ``X`` once for both (what its predict and predict_proba each do)."""
    final: Any = model
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        X, final = model[:-1].transform(X), model.steps[-1][1]
    return Predictions([str(c) for c in model.classes_], final.predict(X), final.predict_proba(X))


@dataclass(frozen=True)
class Coded:
    """Labels as integer codes: each one's index in the sorted labels seen."""

    truth: np.ndarray
    predicted: np.ndarray
    classes: list[int]  # the codes of the model's classes, in its column order


def coded(y: pd.Series, answers: Predictions) -> Coded:
    """The true and predicted labels as codes of the sorted labels seen (the model's classes,
    the truth's, the predictions'). scikit-learn's metrics sort the labels they are given
    and count per label, so codes that keep that order give the same scores, bit for bit,
    as the text: without comparing strings per row (200,000 test rows: ~13 s of sorting)."""
    seen = {*answers.classes, *pd.unique(y), *pd.unique(answers.predicted)}
    index = pd.Index(sorted(seen), dtype=object)  # the order scikit-learn sorts labels in
    return Coded(
        truth=index.get_indexer(pd.Index(y, dtype=object)),
        predicted=index.get_indexer(pd.Index(answers.predicted, dtype=object)),
        classes=[int(i) for i in index.get_indexer(answers.classes)],
    )


def _binary_scores(codes: Coded, proba: np.ndarray, column: int) -> Any:
    """ROC AUC and average precision of one class's probability (one-vs-rest = the same)."""
    is_positive = codes.truth == codes.classes[column]
    score = proba[:, column]
    auc = roc_auc_score(is_positive, score)
    return {
        "roc_auc": auc,
        "average_precision": average_precision_score(is_positive, score),
        "roc_auc_ovr": auc,
    }


def evaluate(
    model: Pipeline, X: pd.DataFrame, y: pd.Series, positive_class: str | None = None
) -> dict[str, float]:
    """``scores`` of ``model`` on ``X`` against ``y``."""
    return scores(predict(model, X), y, positive_class)


def scores(
    answers: Predictions, y: pd.Series, positive_class: str | None = None
) -> dict[str, float]:
    """accuracy, macro scores, log loss, one-vs-rest ROC AUC and per-class scores; for a
    binary target also ``roc_auc`` and ``average_precision`` of ``positive_class``
    (default: the second class)."""
    classes, proba = answers.classes, answers.proba
    codes = coded(y, answers)
    truth, predicted, labels = codes.truth, codes.predicted, codes.classes
    metrics: dict[str, float] = {
        "accuracy": accuracy_score(truth, predicted),
        "f1_macro": f1_score(truth, predicted, average="macro", zero_division=0),
        "precision_macro": precision_score(truth, predicted, average="macro", zero_division=0),
        "recall_macro": recall_score(truth, predicted, average="macro", zero_division=0),
        "log_loss": log_loss(truth, proba, labels=labels),
    }
    if len(classes) == 2:
        column = classes.index(positive_class or classes[1])
        metrics.update(_binary_scores(codes, proba, column))
    else:
        metrics["roc_auc_ovr"] = roc_auc_score(truth, proba, multi_class="ovr", labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    for i, name in enumerate(class_keys(classes)):
        metrics[f"precision_{name}"] = precision[i]
        metrics[f"recall_{name}"] = recall[i]
        metrics[f"f1_{name}"] = f1[i]
        metrics[f"support_{name}"] = support[i]
    # Plain Python numbers so that JSON and MLflow see the same values.
    return {k: (int(v) if k.startswith("support_") else float(v)) for k, v in metrics.items()}


# What MLflow takes in a metric name (less '/' and ':', which it reads as paths on some
# systems), and the per-class key that would be an average's name (f1_macro).
_KEY_CHARACTERS = re.compile(r"[^\w.\- ]")
_AVERAGES = frozenset({"macro"})
_KEY_LENGTH = 200  # MLflow's limit is 250 for the whole name


def class_keys(classes: Sequence[str]) -> list[str]:
    """Each class as per-class metric names hold it (``f1_<key>``): the label itself when
    MLflow takes it and no average has that name, else ``class<i>_`` and the label with
    any other character as ``_``, cut to 200 characters (``<=50K`` -> ``class0___50K``)."""
    keys, numbered = [], []
    for i, name in enumerate(classes):
        safe = _KEY_CHARACTERS.sub("_", name)[:_KEY_LENGTH]
        numbered.append(f"class{i}_{safe}")
        keys.append(name if safe == name and name not in _AVERAGES else numbered[-1])
    # A stand-in may spell another class's label ("class0_x"): then every key is numbered.
    return keys if len(set(keys)) == len(keys) else numbered


def confusion(model: Pipeline, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """``counts`` of ``model``'s predictions on ``X`` against ``y``."""
    return counts(predict(model, X), y)


def counts(answers: Predictions, y: pd.Series) -> dict[str, Any]:
    """``{"labels": [...], "matrix": [[...]]}``: rows are true, columns predicted."""
    codes = coded(y, answers)
    matrix = confusion_matrix(codes.truth, codes.predicted, labels=codes.classes)
    return {"labels": answers.classes, "matrix": np.asarray(matrix).astype(int).tolist()}


def macro_f1(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 of each row of ``predicted`` (class codes, blocks x rows) against
    ``truth`` (codes): scikit-learn's ``f1_score(average="macro", zero_division=0)``
    over every class, bit for bit, for many predictions at once."""
    per_class = np.zeros((predicted.shape[0], n_classes))
    for code in range(n_classes):
        is_true = truth == code
        is_predicted = predicted == code
        hits = (is_predicted & is_true).sum(axis=1)
        denominator = is_predicted.sum(axis=1) + is_true.sum()
        np.divide(2 * hits, denominator, out=per_class[:, code], where=denominator > 0)
    # A mean per row, as scikit-learn takes it: numpy sums 8 or more values pairwise,
    # so adding class by class would differ in the last bit from 8 classes on.
    return per_class.mean(axis=1)
