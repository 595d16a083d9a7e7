"""How tune scores a trial: stratified folds of the rows outside the test split.

``--cv-folds K`` (K >= 2) gives scikit-learn's ``StratifiedKFold(K, shuffle=True,
random_state=seed)``; ``--cv-folds 1`` gives one fixed stratified validation split
holding 10 % of all rows (with the default test size 0.2: 70 % train, 10 % validation,
20 % test). The test split is never seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, TransformerMixin, clone
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from petalflow.core.errors import InvalidSplitError
from petalflow.training.evaluation import macro_f1

VALIDATION_SHARE = 0.1  # of all rows, for --cv-folds 1
Fold = tuple[np.ndarray, np.ndarray]  # (fit rows, validation rows), positions


@dataclass(frozen=True)
class PreparedFold:
    """A fold whose rows went through preprocessing fitted on its fit rows alone."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_validation: np.ndarray
    y_validation: np.ndarray


@dataclass(frozen=True)
class Metric:
    """A score of a fitted pipeline on rows, and whether tune maximises it."""

    name: str
    maximize: bool
    uses_proba: bool
    compute: Callable[[Any, np.ndarray, list[str], str | None], float]


def _auc(y: Any, proba: np.ndarray, classes: list[str], positive: str | None) -> float:
    if len(classes) == 2:
        positive = positive or classes[1]
        truth = np.asarray(y).astype(str) == positive
        return float(roc_auc_score(truth, proba[:, classes.index(positive)]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))


def _f1_macro(y: Any, predicted: np.ndarray, classes: list[str], _positive: str | None) -> float:
    # scikit-learn's f1_score(y, predicted, average="macro", labels=classes,
    # zero_division=0), bit for bit (tested), without its input checks: they cost as much
    # as fitting a trial's small fold, and tune scores every fold of every trial.
    code = {name: i for i, name in enumerate(classes)}
    truth = _codes(y, code)
    chosen = _codes(predicted, code)
    return float(macro_f1(truth, chosen[None, :], len(classes))[0])


def _codes(values: Any, code: dict[str, int]) -> np.ndarray:
    """Each value's class code (-1: not a class), its text compared: a dict lookup per
    row costs a fold's two dozen rows ~3 us, pandas' indexer ~100 us."""
    return np.fromiter((code.get(str(v), -1) for v in values), np.intp, len(values))


METRICS = {
    m.name: m
    for m in (
        Metric("accuracy", True, False, lambda y, p, c, _: float(accuracy_score(y, p))),
        Metric("f1_macro", True, False, _f1_macro),
        Metric(
            "precision_macro",
            True,
            False,
            lambda y, p, c, _: float(
                precision_score(y, p, average="macro", labels=c, zero_division=0)
            ),
        ),
        Metric(
            "recall_macro",
            True,
            False,
            lambda y, p, c, _: float(
                recall_score(y, p, average="macro", labels=c, zero_division=0)
            ),
        ),
        Metric("roc_auc_ovr", True, True, _auc),
        Metric("log_loss", False, True, lambda y, p, c, _: float(log_loss(y, p, labels=c))),
    )
}


def folds(y: pd.Series, k: int, seed: int, test_size: float) -> list[Fold]:
    """The folds of the non-test rows ``y``; InvalidSplitError when a class cannot be on
    both sides of every fold."""
    smallest = int(y.value_counts().min())
    if k >= 2:
        if k > smallest:
            raise InvalidSplitError(
                f"{k} folds need at least {k} rows of every class outside the test split; "
                f"the smallest class has {smallest}; choose at most {smallest} folds"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    share = VALIDATION_SHARE / (1 - test_size)
    positions = np.arange(len(y))
    try:
        fit, validation = train_test_split(
            positions, test_size=share, random_state=seed, stratify=y
        )
    except ValueError:
        held = math.ceil(share * len(y))  # as scikit-learn rounds it
        raise InvalidSplitError(
            f"a validation split of {VALIDATION_SHARE:.0%} of the rows ({held} of these "
            f"{len(y)} training rows) cannot hold every one of the {y.nunique()} classes and "
            "keep each in the rest; use --cv-folds 2 or more (folds use every training row)"
        ) from None
    return [(np.sort(fit), np.sort(validation))]


def score(metric: Metric, model: Any, X: Any, y: Any, positive: str | None) -> float:
    """``metric`` of a fitted classifier or pipeline ``model`` on (X, y)."""
    classes = [str(c) for c in model.classes_]
    values = model.predict_proba(X) if metric.uses_proba else model.predict(X)
    return metric.compute(y, values, classes, positive)


def cross_validate(
    make: Callable[[], Pipeline],
    X: pd.DataFrame,
    y: pd.Series,
    splits: list[Fold],
    metric: Metric,
    positive: str | None,
) -> np.ndarray:
    """``metric`` of a fresh ``make()`` pipeline fitted on each fold, scored on its rest."""
    scores = []
    for fit, validation in splits:
        pipeline = make().fit(X.iloc[fit], y.iloc[fit])
        scores.append(score(metric, pipeline, X.iloc[validation], y.iloc[validation], positive))
    return np.asarray(scores)


def prepare_folds(
    make: Callable[[], TransformerMixin], X: pd.DataFrame, y: pd.Series, splits: list[Fold]
) -> list[PreparedFold]:
    """Each fold through a fresh ``make()`` preprocessing fitted on its fit rows.

    Preprocessing (scaling, imputation, one-hot) does not depend on the classifier's
    hyperparameters, so a search transforms each fold once, and each trial only fits its
    classifier: the same scores as fitting the whole pipeline per fold, a fraction of the
    work.
    """
    prepared = []
    for fit, validation in splits:
        step = make()
        X_fit = np.asarray(step.fit_transform(X.iloc[fit], y.iloc[fit]))
        X_validation = np.asarray(step.transform(X.iloc[validation]))
        # Labels as a plain object array: converting pandas' (Arrow) strings at every fit
        # and score would cost a trial more than its fits.
        labels = y.to_numpy(dtype=object)
        prepared.append(PreparedFold(X_fit, labels[fit], X_validation, labels[validation]))
    return prepared


def score_folds(
    classifier: ClassifierMixin, prepared: list[PreparedFold], metric: Metric, positive: str | None
) -> np.ndarray:
    """``metric`` of a clone of ``classifier`` fitted on each prepared fold."""
    scores = []
    for fold in prepared:
        fitted = clone(classifier).fit(fold.X_fit, fold.y_fit)
        scores.append(score(metric, fitted, fold.X_validation, fold.y_validation, positive))
    return np.asarray(scores)
