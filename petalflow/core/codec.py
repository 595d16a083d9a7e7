"""Rows of a contract as the server holds them: one float64 array, one column per feature.

Every route, the predictor, the fast path and the prediction log pass rows in one shape,
``(n, n_features)`` float64 in contract order ("encoded rows"):

* ``float`` and ``int`` features: the value;
* ``bool`` features: 1.0 / 0.0 (as training reads them);
* ``category`` features: the value's index in the feature's ``categories``;
* a null (nullable features only): NaN.

``RowCodec`` turns encoded rows into the DataFrame the pipeline was trained on (numbers
as float64, categories as text, gaps as NaN) and back, and decodes values for people.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from petalflow.core.contract import ModelContract


class RowCodec:
    """Encoded rows <-> the pipeline's DataFrame, for one contract."""

    def __init__(self, contract: ModelContract) -> None:
        self.contract = contract
        self.names = contract.feature_names
        self.categories: dict[int, list[str]] = {
            j: list(f.categories or [])
            for j, f in enumerate(contract.features)
            if f.type == "category"
        }
        self.index: dict[int, dict[str, int]] = {
            j: {c: i for i, c in enumerate(cats)} for j, cats in self.categories.items()
        }
        # Per category column: its categories then NaN, so index k (a gap) decodes to NaN.
        self._lookup = {
            j: np.array([*cats, np.nan], dtype=object) for j, cats in self.categories.items()
        }

    @property
    def plain(self) -> bool:
        """Whether encoded rows are the pipeline's inputs as they are (no categories)."""
        return not self.categories

    def to_frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The DataFrame the pipeline was trained on, from encoded rows."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(self.names))
        if self.plain:
            return pd.DataFrame(rows, columns=self.names)
        columns: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            column = rows[:, j]
            if j in self._lookup:
                gaps = np.isnan(column)
                codes = np.where(gaps, len(self.categories[j]), column).astype(np.intp)
                columns[name] = pd.Series(self._lookup[j][codes], dtype=object)
            else:
                columns[name] = column
        return pd.DataFrame(columns, columns=self.names)

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Encoded rows from a typed frame (training's X, or decoded rows).

        ValueError naming the column if a category is not among the contract's.
        """
        out = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            column = frame[name]
            if j not in self.index:
                out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            index = self.index[j]
            codes = []
            for value in column.tolist():
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    codes.append(math.nan)
                elif str(value) in index:
                    codes.append(float(index[str(value)]))
                else:
                    raise ValueError(f"{name}: {value!r} is not one of {self.categories[j]}")
            out[:, j] = codes
        return out

    def decode_row(self, row: Sequence[float | None]) -> dict[str, Any]:
        """One encoded row as the JSON a client sends (category text, bool, null)."""
        decoded: dict[str, Any] = {}
        for j, (feature, value) in enumerate(zip(self.contract.features, row, strict=True)):
            if value is None or math.isnan(value):
                decoded[feature.name] = None
            elif j in self.categories:
                decoded[feature.name] = self.categories[j][int(value)]
            elif feature.type == "bool":
                decoded[feature.name] = bool(value)
            elif feature.type == "int" and float(value).is_integer():
                decoded[feature.name] = int(value)
            else:
                decoded[feature.name] = float(value)
        return decoded
