"""The training table: checked cell by cell against its data contract, then typed.

A table arrives raw (a CSV read as text, or a built-in data set's frame). ``typed_table``
checks every column against its feature spec and either returns the model's inputs
(numbers as float64 with NaN for gaps, categories as text with NaN) and the target as
text, or raises TableError naming each column, rule, count and first line numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from petalflow.core.contract import FeatureSpec
from petalflow.core.errors import TableError

logger = logging.getLogger(__name__)

# Cells read as missing, compared stripped and lower-cased (pandas' usual NA spellings).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>"})
TRUE_TOKENS = frozenset({"true", "yes", "1", "1.0"})
FALSE_TOKENS = frozenset({"false", "no", "0", "0.0"})
SHOWN_LINES = 5


@dataclass(frozen=True)
class Rows:
    """How a table's rows are named in messages: CSV line numbers or row numbers."""

    unit: str = "line"
    first: int = 2  # the header is line 1

    def numbers(self, mask: np.ndarray) -> list[int]:
        """The numbers of the rows where ``mask`` is True."""
        return [int(i) + self.first for i in np.flatnonzero(mask)]


@dataclass(frozen=True)
class Violation:
    """One broken rule in one column, with every offending row."""

    column: str
    rule: str
    rows: list[int]

    def message(self, unit: str) -> str:
        shown = ", ".join(str(n) for n in self.rows[:SHOWN_LINES])
        more = ", ..." if len(self.rows) > SHOWN_LINES else ""
        count = len(self.rows)
        return f"column {self.column!r}: {count} value(s) {self.rule} ({unit}s {shown}{more})"


def missing_mask(column: pd.Series) -> np.ndarray:
    """True where a cell is missing: NaN/None, or text such as '' or 'NA'."""
    absent = column.isna().to_numpy(dtype=bool)
    if is_numeric_dtype(column) or is_bool_dtype(column):
        return absent
    text = column.astype(object).where(~absent, "").astype(str).str.strip().str.lower()
    return absent | text.isin(MISSING_TOKENS).to_numpy(dtype=bool)


def _text(column: pd.Series) -> pd.Series:
    return column.astype(object).astype(str).str.strip()


def _numbers(feature: FeatureSpec, column: pd.Series, present: np.ndarray) -> pd.Series:
    if is_bool_dtype(column):
        return column.astype(np.float64)
    if is_numeric_dtype(column):
        return column.astype(np.float64)
    if feature.type == "bool":
        lowered = _text(column).str.lower()
        values = np.where(lowered.isin(TRUE_TOKENS), 1.0, np.nan)
        values = np.where(lowered.isin(FALSE_TOKENS), 0.0, values)
        return pd.Series(np.where(present, values, np.nan), index=column.index)
    parsed = pd.to_numeric(_text(column).where(present, ""), errors="coerce")
    return parsed.astype(np.float64)


def _bound_violations(feature: FeatureSpec, values: np.ndarray, rows: Rows) -> list[Violation]:
    checks = {
        "ge": (lambda v, b: v < b, ">="),
        "gt": (lambda v, b: v <= b, ">"),
        "le": (lambda v, b: v > b, "<="),
        "lt": (lambda v, b: v >= b, "<"),
    }
    found = []
    for key, bound in feature.bounds().items():
        broken, word = checks[key]
        with np.errstate(invalid="ignore"):
            mask = broken(values, bound) & ~np.isnan(values)
        if mask.any():
            rule = f"out of bounds (must be {word} {bound:g})"
            found.append(Violation(feature.name, rule, rows.numbers(mask)))
    return found


def _numeric_column(
    feature: FeatureSpec, column: pd.Series, present: np.ndarray, rows: Rows
) -> tuple[pd.Series, list[Violation]]:
    values = _numbers(feature, column, present)
    array = values.to_numpy(dtype=np.float64)
    kind = {"float": "a number", "int": "an integer", "bool": "a boolean (true/false, 1/0)"}
    bad = present & ~np.isfinite(array)
    if feature.type == "int":
        with np.errstate(invalid="ignore"):
            bad |= present & np.isfinite(array) & (array != np.round(array))
    if feature.type == "bool" and (is_numeric_dtype(column) or is_bool_dtype(column)):
        bad |= present & ~np.isin(array, (0.0, 1.0))
    found = (
        [Violation(feature.name, f"not {kind[feature.type]}", rows.numbers(bad))]
        if bad.any()
        else []
    )
    checked = np.where(bad, np.nan, array)
    found += _bound_violations(feature, checked, rows)
    return pd.Series(checked, index=column.index, dtype=np.float64), found


def _category_column(
    feature: FeatureSpec, column: pd.Series, present: np.ndarray, rows: Rows
) -> tuple[pd.Series, list[Violation]]:
    text = _text(column)
    found = []
    if feature.categories is not None:
        unknown = present & ~text.isin(feature.categories).to_numpy(dtype=bool)
        if unknown.any():
            allowed = ", ".join(feature.categories)
            rule = f"not a known category (allowed: {allowed})"
            found.append(Violation(feature.name, rule, rows.numbers(unknown)))
    values = pd.Series(
        np.where(present, text.to_numpy(dtype=object), np.nan), index=column.index, dtype=object
    )
    return values, found


def typed_column(
    feature: FeatureSpec, column: pd.Series, rows: Rows
) -> tuple[pd.Series, list[Violation]]:
    """``column`` as the model sees it (float64, or object text for categories) and its
    violations of ``feature`` (nullability, type, bounds, categories)."""
    missing = missing_mask(column)
    found = []
    if missing.any() and not feature.nullable:
        rule = "missing (the feature is not nullable: fill the gaps or set nullable: true)"
        found.append(Violation(feature.name, rule, rows.numbers(missing)))
    if feature.type == "category":
        values, more = _category_column(feature, column, ~missing, rows)
    else:
        values, more = _numeric_column(feature, column, ~missing, rows)
    return values.rename(feature.name), found + more


def typed_table(
    frame: pd.DataFrame,
    features: Sequence[FeatureSpec],
    target: str,
    source: str,
    rows: Rows = Rows(),
) -> tuple[pd.DataFrame, pd.Series]:
    """(X in feature order, y as text) from ``frame``; TableError listing every violation."""
    absent = [name for name in [*(f.name for f in features), target] if name not in frame.columns]
    if absent:
        columns = ", ".join(map(repr, frame.columns))
        raise TableError(f"{source}: missing column(s) {absent}; the table has {columns}")
    found: list[Violation] = []
    typed = []
    for feature in features:
        values, problems = typed_column(feature, frame[feature.name], rows)
        typed.append(values)
        found += problems
    no_label = missing_mask(frame[target])
    if no_label.any():
        found.append(Violation(target, "missing in the target", rows.numbers(no_label)))
    if found:
        details = "; ".join(v.message(rows.unit) for v in found)
        raise TableError(f"{source}: {details}; fix the data or the contract")
    X = pd.concat(typed, axis=1)
    y = pd.Series(_text(frame[target]).to_numpy(dtype=object).astype(str), name=target)
    return X.reset_index(drop=True), y
