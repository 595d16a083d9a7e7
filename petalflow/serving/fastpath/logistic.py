"""Preprocessing + logistic regression, exactly as scikit-learn computes it.

More than two classes: ``X @ coef_.T + intercept_``, then softmax (multinomial). Two
classes: one decision ``d``, then ``p = expit(d)`` and ``[1 - p, p]``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from petalflow.serving.fastpath.base import FastPath, FloatArray, Preprocessor, UnsupportedError

logger = logging.getLogger(__name__)


# Up to this many classes, a row's max and sum go column by column: numpy's reduction
# over a short last axis costs ~35 us per 1,000 rows for three classes, the columns ~3 us.
# Below 8 terms numpy sums in order (its pairwise sum starts at 8), so both give the
# same bits.
_COLUMNWISE_CLASSES = 8


def _row_reduce(ufunc: np.ufunc, scores: FloatArray) -> FloatArray:
    """``ufunc.reduce(scores, axis=1, keepdims=True)``, the same bits, faster for few classes."""
    if scores.shape[1] >= _COLUMNWISE_CLASSES:
        return ufunc.reduce(scores, axis=1, keepdims=True)
    out = scores[:, 0].copy()
    for j in range(1, scores.shape[1]):
        ufunc(out, scores[:, j], out=out)
    return out[:, None]


class LogisticFastPath(FastPath):
    """Preprocessing + logistic regression (multinomial, or binary when coef has one row)."""

    kind = "logreg"

    def __init__(
        self, classes: Sequence[object], pre: Preprocessor, coef: FloatArray, intercept: FloatArray
    ) -> None:
        super().__init__(classes, pre)
        self.coef, self.intercept = coef, intercept
        self.binary = len(coef) == 1
        numeric = coef[:, pre.numeric_columns]
        self._weights = list(zip(numeric.tolist(), intercept.tolist(), strict=True))
        # Per category input and slot: each class's weight of the slot's column (0: none).
        padded = np.hstack([coef, np.zeros((len(coef), 1))])  # column -1: an unknown value
        self._slot_weights = [padded[:, columns].T.tolist() for columns in pre.slot_columns]

    def predict_many(self, X: FloatArray) -> FloatArray:
        """sklearn's operations in sklearn's order (the same BLAS matmul)."""
        Z, S = self.pre.transform(X)
        if not np.isfinite(Z).all():
            raise ValueError("the fast path needs finite inputs")
        scores: FloatArray = self.pre.dense(Z, S) @ self.coef.T + self.intercept
        if self.binary:
            with np.errstate(over="ignore"):  # exp overflows to inf: expit is 0, as scipy's
                p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1 - p, p], axis=1)
        scores -= _row_reduce(np.maximum, scores)
        np.exp(scores, out=scores)
        scores /= _row_reduce(np.add, scores)
        return scores

    def predict_one(self, row: Sequence[float]) -> list[float]:
        """Plain Python floats; the dot products may differ from BLAS in the last bits."""
        z, slots = self.pre.transform_row(row)
        if not all(map(math.isfinite, z)):
            raise ValueError("the fast path needs finite inputs")
        scores = []
        if slots:  # each category's slot: its column is 1.0 (adds its weight), the others 0
            hot = [w[s] for w, s in zip(self._slot_weights, slots, strict=True)]
            for c, (weights, bias) in enumerate(self._weights):
                acc = 0.0  # a loop, not sum(): sum() is compensated on Python >= 3.12
                for zi, wi in zip(z, weights, strict=True):
                    acc += zi * wi
                for slot_weights in hot:
                    acc += slot_weights[c]
                scores.append(acc + bias)
        else:
            for weights, bias in self._weights:
                acc = 0.0
                for zi, wi in zip(z, weights, strict=True):
                    acc += zi * wi
                scores.append(acc + bias)
        if self.binary:
            try:
                p = 1.0 / (1.0 + math.exp(-scores[0]))
            except OverflowError:  # scipy's expit: exp(-d) = inf, so p = 0
                p = 0.0
            return [1.0 - p, p]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = 0.0
        for e in exps:
            total += e
        return [e / total for e in exps]


def compile_logistic(classifier: Any, pre: Preprocessor) -> LogisticFastPath:
    """The fast path of a fitted LogisticRegression behind ``pre``."""
    coef = np.array(classifier.coef_, dtype=np.float64)
    intercept = np.array(classifier.intercept_, dtype=np.float64)
    n_classes = len(classifier.classes_)
    if coef.shape != (1 if n_classes == 2 else n_classes, pre.n_outputs):
        raise UnsupportedError(f"a LogisticRegression with coef_ of shape {coef.shape}")
    return LogisticFastPath(classifier.classes_, pre, coef, intercept)
