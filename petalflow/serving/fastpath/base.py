"""The fast path's base: a verified NumPy replacement for a fitted preprocessing + classifier.

A ``Preprocessor`` turns encoded rows (``petalflow.core.codec``: contract order, categories
as their index, NaN for a gap) into what the classifier needs: the scaled numbers and,
per category feature, a *slot* (which one-hot column is 1, or none). ``dense`` lays both
out as the preprocessing step's output matrix, column for column.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class UnsupportedError(Exception):
    """A pipeline (or a part of one) the fast path does not know; the message says why."""


@dataclass(frozen=True)
class NumericInput:
    """A number: ``(x, or fill if x is NaN, - mean) / scale`` into output ``column``."""

    feature: int  # its index in the encoded row
    column: int
    fill: float  # the imputer's statistic; NaN without an imputer (a gap stays a gap)
    mean: float
    scale: float


class Preprocessor(ABC):
    """A fitted preprocessing step, as scaled numbers and category slots.

    ``numbers[i]`` says where the i-th number comes from and goes; ``slot_columns[g][s]``
    is the output column set to 1 by slot s of category input g (-1: none, an unknown
    value).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        numbers: Sequence[NumericInput],
        slot_columns: Sequence[Sequence[int]],
    ) -> None:
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self.numbers = list(numbers)
        self.numeric_columns = [n.column for n in numbers]
        self.slot_columns = [list(columns) for columns in slot_columns]
        self._identity = self.numeric_columns == list(range(n_outputs))

    def check(self, X: FloatArray) -> FloatArray:
        """``X`` as a float64 (n, n_inputs) array; ValueError for another shape."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"expected an (n, {self.n_inputs}) array, got shape {X.shape}")
        return X

    def check_row(self, row: Sequence[float]) -> None:
        """ValueError unless ``row`` has n_inputs values."""
        if len(row) != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} values, got {len(row)}")

    @abstractmethod
    def transform(self, X: FloatArray) -> tuple[FloatArray, IntArray]:
        """(n, n_numbers) scaled numbers and (n, n_categories) slots for encoded rows."""

    @abstractmethod
    def transform_row(self, row: Sequence[float]) -> tuple[list[float], list[int]]:
        """``transform`` for one row, in plain Python (the /predict hot path)."""

    def dense(self, Z: FloatArray, S: IntArray) -> FloatArray:
        """The step's output matrix: numbers in their columns, a 1 in each slot's column."""
        if self._identity and not self.slot_columns:
            return Z
        out = np.zeros((len(Z), self.n_outputs), dtype=np.float64)
        out[:, self.numeric_columns] = Z
        rows = np.arange(len(Z))
        for g, columns in enumerate(self.slot_columns):
            hot = np.asarray(columns, dtype=np.intp)[S[:, g]]
            known = hot >= 0
            out[rows[known], hot[known]] = 1.0
        return out


class FastPath(ABC):
    """Probabilities equal to the pipeline's; never mutated after construction (thread-safe)."""

    kind = "?"

    def __init__(self, classes: Sequence[object], pre: Preprocessor) -> None:
        self.classes = [str(c) for c in classes]
        self.pre = pre

    def predict_proba(self, X: FloatArray) -> FloatArray:
        """(n, n_classes) probabilities for (n, n_features) encoded rows in contract order.

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


def float32_row(pre: Preprocessor, row: Sequence[float]) -> tuple[list[float], list[int]]:
    """One row as a tree sees it: transformed, cast to float32 (as scikit-learn's trees
    compare), and its category slots; ValueError if a value is not finite after the cast."""
    z, slots = pre.transform_row(row)
    z32: list[float] = np.array(z, dtype=np.float32).tolist()
    if not all(map(math.isfinite, z32)):
        raise ValueError("the fast path needs finite inputs (after the float32 cast)")
    return z32, slots
