"""The two preprocessing shapes petalflow trains, repeated exactly.

``ScalerPreprocessor``: a StandardScaler over every feature (Iris's shape).
``ColumnPreprocessor``: a ColumnTransformer whose numbers are imputed (optionally) then
scaled, and whose categories are imputed (optionally) then one-hot encoded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from petalflow.serving.fastpath.base import FloatArray, IntArray, NumericInput, Preprocessor

logger = logging.getLogger(__name__)


def scaler_params(scaler: Any) -> tuple[FloatArray, FloatArray]:
    """mean_ and scale_, or 0 and 1 where centring / scaling is off (exact no-ops)."""
    n = int(scaler.n_features_in_)
    mean = scaler.mean_ if scaler.with_mean else np.zeros(n)
    scale = scaler.scale_ if scaler.with_std else np.ones(n)
    return np.array(mean, dtype=np.float64), np.array(scale, dtype=np.float64)


class ScalerPreprocessor(Preprocessor):
    """StandardScaler.transform: ``(x - mean_) / scale_`` on every feature, in place."""

    def __init__(self, mean: FloatArray, scale: FloatArray) -> None:
        numbers = [
            NumericInput(j, j, math.nan, m, s)
            for j, (m, s) in enumerate(zip(mean.tolist(), scale.tolist(), strict=True))
        ]
        super().__init__(len(mean), len(mean), numbers, [])
        self.mean, self.scale = mean, scale
        self._mean_scale = list(zip(mean.tolist(), scale.tolist(), strict=True))
        self._no_slots = np.empty((0, 0), dtype=np.intp)

    def transform(self, X: FloatArray) -> tuple[FloatArray, IntArray]:
        Z = (self.check(X) - self.mean) / self.scale  # X -= mean_; X /= scale_
        return Z, self._no_slots.reshape(len(Z), 0)

    def transform_row(self, row: Sequence[float]) -> tuple[list[float], list[int]]:
        if len(row) != self.n_inputs:
            self.check_row(row)  # raises
        return [(x - m) / s for x, (m, s) in zip(row, self._mean_scale, strict=True)], []


@dataclass(frozen=True)
class CategoryInput:
    """A category: its code (the contract's index) picks a slot, a 1 in ``columns[slot]``.

    ``codes`` maps each contract code to a slot; ``missing`` is the slot of a gap (the
    imputer's category), None where a gap is an error. ``columns[-1]`` is -1: the slot of
    a value the encoder does not know (all zeros, as handle_unknown="ignore" gives).
    """

    name: str
    feature: int
    columns: list[int]
    codes: dict[float, int]
    missing: int | None


class ColumnPreprocessor(Preprocessor):
    """A ColumnTransformer of imputed / scaled numbers and imputed / one-hot categories."""

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        numbers: Sequence[NumericInput],
        categories: Sequence[CategoryInput],
    ) -> None:
        super().__init__(n_inputs, n_outputs, numbers, [c.columns for c in categories])
        self.categories = list(categories)
        self._features = np.array([n.feature for n in numbers], dtype=np.intp)
        self._fill, self._mean, self._scale = (
            np.array([getattr(n, key) for n in numbers], dtype=np.float64)
            for key in ("fill", "mean", "scale")
        )
        self._numeric_rows = [(n.feature, n.fill, n.mean, n.scale) for n in numbers]
        self._category_rows = [(c.feature, c.codes, c) for c in categories]
        self._lookups = [  # slot by code, codes being 0 .. K - 1
            np.array([c.codes[float(k)] for k in range(len(c.codes))], dtype=np.intp)
            for c in categories
        ]

    def transform(self, X: FloatArray) -> tuple[FloatArray, IntArray]:
        X = self.check(X)
        Z = X[:, self._features]
        np.copyto(Z, self._fill, where=np.isnan(Z))  # SimpleImputer.transform
        Z -= self._mean  # StandardScaler.transform: X -= mean_; X /= scale_
        Z /= self._scale
        S = np.empty((len(X), len(self.categories)), dtype=np.intp)
        for g, (category, lookup) in enumerate(zip(self.categories, self._lookups, strict=True)):
            S[:, g] = _slots(category, lookup, X[:, category.feature])
        return Z, S

    def transform_row(self, row: Sequence[float]) -> tuple[list[float], list[int]]:
        if len(row) != self.n_inputs:
            self.check_row(row)  # raises
        z = []
        for j, fill, m, s in self._numeric_rows:
            x = row[j]
            if x != x:  # NaN: the imputer's statistic (NaN again without an imputer)
                x = fill
            z.append((x - m) / s)
        slots = []
        for j, codes, category in self._category_rows:
            slot = codes.get(row[j])
            slots.append(_missing_slot(category, row[j]) if slot is None else slot)
        return z, slots


def _missing_slot(category: CategoryInput, value: float) -> int:
    """The slot of a gap, or ValueError for a gap without an imputer or a bad code."""
    if math.isnan(value) and category.missing is not None:
        return category.missing
    gap = ", or NaN" if category.missing is not None else ""
    allowed = f"0 to {len(category.codes) - 1}{gap}"
    raise ValueError(f"{category.name}: {value!r} is not a category index ({allowed})")


def _slots(category: CategoryInput, lookup: IntArray, column: FloatArray) -> IntArray:
    """``codes`` and ``_missing_slot`` for a whole column."""
    gaps = np.isnan(column)
    codes = np.where(gaps, 0.0, column)
    with np.errstate(invalid="ignore"):  # inf or huge codes: caught as bad just below
        index = codes.astype(np.intp)
    out_of_range = len(index) > 0 and (index.min() < 0 or index.max() >= len(lookup))
    refused_gap = category.missing is None and gaps.any()
    if out_of_range or refused_gap or not (index == codes).all():
        bad = (index != codes) | (index < 0) | (index >= len(lookup))
        if category.missing is None:
            bad |= gaps
        _missing_slot(category, float(column[np.flatnonzero(bad)[0]]))  # raises
    slots = lookup[index]
    if category.missing is not None:
        slots[gaps] = category.missing
    return slots
