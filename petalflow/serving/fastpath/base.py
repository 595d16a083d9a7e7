"""The fast path's base: a verified NumPy replacement for a fitted scaler + classifier."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class FastPath(ABC):
    """Probabilities equal to the pipeline's; never mutated after construction (thread-safe)."""

    kind = "?"

    def __init__(self, classes: Sequence[object], mean: FloatArray, scale: FloatArray) -> None:
        self.classes = [str(c) for c in classes]
        self.mean, self.scale = mean, scale
        self._mean_scale = list(zip(mean.tolist(), scale.tolist(), strict=True))

    def _scaled(self, X: FloatArray) -> FloatArray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(f"expected an (n, {len(self.mean)}) array, got shape {X.shape}")
        return (X - self.mean) / self.scale  # StandardScaler.transform: X -= mean_; X /= scale_

    def _scaled_row(self, row: Sequence[float]) -> list[float]:
        if len(row) != len(self._mean_scale):
            raise ValueError(f"expected {len(self._mean_scale)} values, got {len(row)}")
        return [(x - m) / s for x, (m, s) in zip(row, self._mean_scale, strict=True)]

    def predict_proba(self, X: FloatArray) -> FloatArray:
        """(n, n_classes) probabilities for (n, n_features) float rows in feature order.

        One row (the /predict hot path) takes ``predict_one``, which skips NumPy's
        per-call overhead; both are verified against the pipeline.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2 and X.shape[0] == 1:
            return np.array([self.predict_one(X[0].tolist())], dtype=np.float64)
        return self.predict_many(X)

    @abstractmethod
    def predict_many(self, X: FloatArray) -> FloatArray:
        """``predict_proba`` for any number of rows, vectorised."""

    @abstractmethod
    def predict_one(self, row: Sequence[float]) -> list[float]:
        """The class probabilities of one row, with the least overhead."""


def scaler_params(scaler: Any) -> tuple[FloatArray, FloatArray]:
    """mean_ and scale_, or 0 and 1 where centring / scaling is off (exact no-ops)."""
    n = int(scaler.n_features_in_)
    mean = scaler.mean_ if scaler.with_mean else np.zeros(n)
    scale = scaler.scale_ if scaler.with_std else np.ones(n)
    return np.array(mean, dtype=np.float64), np.array(scale, dtype=np.float64)
