"""Scaler + multinomial logistic regression, exactly as scikit-learn computes it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from petalflow.serving.fastpath.base import FastPath, FloatArray


class LogisticFastPath(FastPath):
    """Scaler + multinomial logistic regression: ``Z @ coef_.T + intercept_``, then softmax."""

    kind = "logreg"

    def __init__(
        self,
        classes: Sequence[object],
        mean: FloatArray,
        scale: FloatArray,
        coef: FloatArray,
        intercept: FloatArray,
    ) -> None:
        super().__init__(classes, mean, scale)
        self.coef, self.intercept = coef, intercept
        self._weights = list(zip(coef.tolist(), intercept.tolist(), strict=True))

    def predict_many(self, X: FloatArray) -> FloatArray:
        """sklearn's operations in sklearn's order (the same BLAS matmul)."""
        Z = self._scaled(X)
        if not np.isfinite(Z).all():
            raise ValueError("the fast path needs finite inputs")
        scores: FloatArray = Z @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict_one(self, row: Sequence[float]) -> list[float]:
        """Plain Python floats; the dot products may differ from BLAS in the last bits."""
        z = self._scaled_row(row)
        if not all(map(math.isfinite, z)):
            raise ValueError("the fast path needs finite inputs")
        scores = []
        for weights, bias in self._weights:
            acc = 0.0  # a loop, not sum(): sum() is compensated on Python >= 3.12
            for zi, wi in zip(z, weights, strict=True):
                acc += zi * wi
            scores.append(acc + bias)
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = 0.0
        for e in exps:
            total += e
        return [e / total for e in exps]
