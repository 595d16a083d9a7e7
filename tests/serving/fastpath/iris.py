"""Iris-shaped helpers for the fast path tests: contracts, a fitter, rows, broken fast paths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from petalflow.core.contract import numeric_contract
from petalflow.serving.fastpath import (
    FastPath,
    LogisticFastPath,
    ScalerPreprocessor,
)
from petalflow.training.data import FEATURE_NAMES, load_dataset

NAMES = list(FEATURE_NAMES)
CONTRACT = numeric_contract(
    "iris",
    NAMES,
    ["setosa", "versicolor", "virginica"],
    "species",
    {"gt": 0, "le": 100},
    verification_rows=load_dataset()[0].to_numpy().tolist(),
)
# Small, fast cases: a tenth of Iris to verify on.
SMALL_CONTRACT = numeric_contract(
    "iris",
    NAMES,
    ["setosa", "versicolor", "virginica"],
    "species",
    {"gt": 0, "le": 100},
    verification_rows=load_dataset()[0].to_numpy()[::10].tolist(),
)


def fit_iris(iris: tuple[pd.DataFrame, pd.Series], *steps: object) -> Pipeline:
    X, y = iris
    return Pipeline([(f"step{i}", step) for i, step in enumerate(steps)]).fit(X, y)


def random_rows(n: int, seed: int) -> np.ndarray:
    """Uniform in (0, 100], the range the API accepts."""
    return 100.0 - np.random.default_rng(seed).uniform(0.0, 100.0, size=(n, len(NAMES)))


def max_diff(fast: FastPath, pipeline: Pipeline, X: np.ndarray) -> tuple[float, float]:
    """(batch, row-by-row) max |fast - pipeline.predict_proba|."""
    expected = pipeline.predict_proba(pd.DataFrame(X, columns=NAMES))
    rows = np.array([fast.predict_one(row) for row in X.tolist()])
    return float(np.abs(fast.predict_proba(X) - expected).max()), float(
        np.abs(rows - expected).max()
    )


def hand_logistic() -> LogisticFastPath:
    """z = (x - [1, 2]) / [2, 4]; scores = [z0, z1, z0 + z1] + [0, 1, -1]."""
    return LogisticFastPath(
        [0, 1, 2],
        ScalerPreprocessor(np.array([1.0, 2.0]), np.array([2.0, 4.0])),
        np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        np.array([0.0, 1.0, -1.0]),
    )


class SkewedRow(LogisticFastPath):
    """A fast path whose single-row method is off by 1e-9."""

    def predict_one(self, row: Sequence[float]) -> list[float]:
        first, *rest = super().predict_one(row)
        return [first + 1e-9, *rest]


class NaNBatch(LogisticFastPath):
    """A fast path whose batch method returns NaN."""

    def predict_many(self, X: np.ndarray) -> np.ndarray:
        return np.full_like(super().predict_many(X), np.nan)
