"""The vectorised check of a batch of records: valid for certain, or "ask pydantic".

A batch of thousands of rows would spend most of its time in pydantic, one object per
row. ``fast_rows`` checks the usual case, records that obey the request model, column by
column at C speed, and gives their encoded rows; anything else (a missing or unknown
key, a wrong type, a bound, an unknown category) gives None, and the caller validates
with pydantic, which names the field and the rule. Accepting must never be wider than
pydantic: every rule of ``request_models`` is repeated here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from petalflow.core.contract import FeatureSpec, ModelContract

Column = Callable[[Sequence[Any]], "np.ndarray | None"]
_NUMBERS = frozenset({float, int})


def _numbers(nullable: bool) -> Column:
    allowed = _NUMBERS | {type(None)} if nullable else _NUMBERS

    def check(values: Sequence[Any]) -> np.ndarray | None:
        if not set(map(type, values)) <= allowed:
            return None
        try:  # None -> NaN
            return np.array(values, dtype=np.float64)
        except OverflowError:
            return None

    return check


def _booleans(nullable: bool) -> Column:
    allowed = {bool, type(None)} if nullable else {bool}

    def check(values: Sequence[Any]) -> np.ndarray | None:
        if not set(map(type, values)) <= allowed:
            return None
        return np.array(values, dtype=np.float64)  # True 1.0, False 0.0, None NaN

    return check


def _categories(feature: FeatureSpec) -> Column:
    index: dict[Any, float] = {c: float(i) for i, c in enumerate(feature.categories or ())}
    if feature.nullable:
        index[None] = math.nan

    def check(values: Sequence[Any]) -> np.ndarray | None:
        # Only str keys (and None): a number or a bool is never found, as pydantic's
        # strict enum refuses them too.
        if not set(map(type, values)) <= {str, type(None)}:
            return None
        try:
            return np.array([index[v] for v in values], dtype=np.float64)
        except KeyError:
            return None

    return check


def _column(feature: FeatureSpec) -> Column:
    if feature.type == "category":
        return _categories(feature)
    if feature.type == "bool":
        return _booleans(feature.nullable)
    return _numbers(feature.nullable)


def _lower(feature: FeatureSpec) -> tuple[float, bool]:
    """The binding lower bound (-inf if none) and whether it is exclusive.

    pydantic applies both ``ge`` and ``gt`` when both are set, so the tighter one binds
    (``gt`` on a tie).
    """
    ge, gt = feature.ge, feature.gt
    if gt is not None and (ge is None or gt >= ge):
        return float(gt), True
    return (-np.inf if ge is None else float(ge)), False


def _upper(feature: FeatureSpec) -> tuple[float, bool]:
    """The binding upper bound (+inf if none) and whether it is exclusive (see _lower)."""
    le, lt = feature.le, feature.lt
    if lt is not None and (le is None or lt <= le):
        return float(lt), True
    return (np.inf if le is None else float(le)), False


def _closed(
    features: Sequence[FeatureSpec],
    lows: list[tuple[float, bool]],
    highs: list[tuple[float, bool]],
) -> tuple[np.ndarray, np.ndarray] | None:
    """``Columns.closed``: x > a is x >= nextafter(a, +inf) for floats, exactly."""
    if not all(f.type == "float" and not f.nullable for f in features):
        return None
    low = np.array([np.nextafter(v, np.inf) if is_open else v for v, is_open in lows])
    high = np.array([np.nextafter(v, -np.inf) if is_open else v for v, is_open in highs])
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        return None  # an infinite bound would let an infinity through
    return low, high


@dataclass(frozen=True)
class Columns:
    """Per feature: its check, bounds and rules, in contract order."""

    features: tuple[str, ...]
    plain: bool  # numbers only, never null: one check for the whole batch
    checks: tuple[Column, ...]
    low: np.ndarray  # the lower bound (-inf if none)
    high: np.ndarray
    low_open: np.ndarray  # True where the lower bound is exclusive (gt)
    high_open: np.ndarray
    integral: np.ndarray  # indices of int features
    nullable: np.ndarray  # True where null is allowed
    positions: dict[str, int]  # feature name -> its index
    # The bounds as inclusive ones (an exclusive bound moved to the next float, the same
    # test), when every feature is a non-null float with finite bounds (Iris): then two
    # comparisons per value decide, NaN and infinities included. None otherwise.
    closed: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, contract: ModelContract) -> Columns:
        """The checks of ``contract``'s features."""
        features = contract.features
        lows, highs = [_lower(f) for f in features], [_upper(f) for f in features]
        return cls(
            features=tuple(contract.feature_names),
            plain=all(f.type in ("float", "int") and not f.nullable for f in features),
            checks=tuple(_column(f) for f in features),
            low=np.array([value for value, _ in lows]),
            high=np.array([value for value, _ in highs]),
            low_open=np.array([is_open for _, is_open in lows]),
            high_open=np.array([is_open for _, is_open in highs]),
            integral=np.array([j for j, f in enumerate(features) if f.type == "int"], dtype=int),
            nullable=np.array([f.nullable for f in features]),
            positions={name: j for j, name in enumerate(contract.feature_names)},
            closed=_closed(features, lows, highs),
        )

    def valid(self, rows: np.ndarray) -> bool:
        """Whether every value is finite (or a null where allowed), inside its bounds,
        and integral for int features."""
        if self.closed is not None:
            low, high = self.closed
            with np.errstate(invalid="ignore"):
                return bool(((rows >= low) & (rows <= high)).all())
        gaps = np.isnan(rows)
        if gaps.any() and (gaps & ~self.nullable).any():
            return False
        with np.errstate(invalid="ignore"):
            above = np.where(self.low_open, rows > self.low, rows >= self.low)
            below = np.where(self.high_open, rows < self.high, rows <= self.high)
            ints = rows[:, self.integral]
            whole = (ints == np.floor(ints)) | np.isnan(ints)
        finite = np.isfinite(rows) | gaps
        return bool(finite.all() and (above | gaps).all() and (below | gaps).all() and whole.all())


def fast_rows(records: Any, columns: Columns) -> np.ndarray | None:
    """Encoded rows of ``records`` when each is a dict with exactly the features and
    every value obeys its column's rules; None otherwise (see the module docstring)."""
    n = len(columns.features)
    if not isinstance(records, list) or not records:
        return None
    getter = itemgetter(*columns.features)
    try:
        if not all(type(r) is dict and len(r) == n for r in records):
            return None
        values = list(map(getter, records)) if n > 1 else [(v,) for v in map(getter, records)]
    except KeyError:
        return None
    plain = columns.plain
    rows = _plain_rows(values, len(records), n) if plain else _mixed_rows(values, columns)
    return rows if rows is not None and columns.valid(rows) else None


def fast_split(
    names: Any, data: Any, columns: Columns, body: bytes | None = None
) -> np.ndarray | None:
    """Encoded rows of ``data`` (lists of values under the column ``names``, in any order)
    when the names are exactly the features, each once, every row is a list of as many
    values and every value obeys its column's rules; None otherwise.

    The columnar bodies (/predict/batch's ``columns`` and ``data``, MLflow's
    ``dataframe_split``) take this path: no object per row. ``body``, the JSON text of
    a /predict/batch body holding only ``columns`` and ``data``, lets a numbers-only
    contract skip the check of every value's type when the text shows only numbers.
    """
    n = len(columns.features)
    if type(names) is not list or type(data) is not list or not data or len(names) != n:
        return None
    try:
        order = [columns.positions[name] for name in names]
    except (KeyError, TypeError):  # not a feature, or unhashable (a list, an object)
        return None
    if len(set(order)) != n:
        return None
    if columns.plain and body is not None and numbers_only(body, names):
        table = _plain_rows(data, len(data), n, typed=True) if _widths(data) == {n} else None
    # every row a list of n values: two passes at C speed, no Python call per row
    elif set(map(type, data)) != {list} or set(map(len, data)) != {n}:
        return None
    elif columns.plain:
        table = _plain_rows(data, len(data), n)
    else:
        table = _mixed_split(data, order, columns)
    if table is None:
        return None
    rows = table if not columns.plain or order == sorted(order) else table[:, np.argsort(order)]
    return rows if columns.valid(rows) else None


# What the text of a row of numbers may hold: JSON numbers, brackets, commas, whitespace.
_NUMBER_TEXT = b"0123456789.eE+-[], \t\r\n"


def numbers_only(body: bytes, names: list[str]) -> bool:
    """Whether the JSON object ``body``, whose keys are ``columns`` and ``data`` and whose
    columns are ``names``, holds nothing but numbers under ``data``: without the
    characters of numbers and lists, what is left of it is what its keys and names leave
    (no string, true, false, null or object in the data; a name written with an escape
    leaves a backslash, and the answer is False, as it is for anything uncertain)."""
    left = body.translate(None, _NUMBER_TEXT)
    expected = '{"columns":"data":}' + "".join(f'"{name}"' for name in names)
    keys = expected.encode("utf-8", "surrogatepass").translate(None, _NUMBER_TEXT)
    # The lengths first: a long body of strings is refused without sorting it.
    return len(left) == len(keys) and sorted(left) == sorted(keys)


def _widths(data: list[Any]) -> set[int] | None:
    """The lengths of the rows; None when a row has none (a number)."""
    try:
        return set(map(len, data))
    except TypeError:
        return None


def _mixed_split(data: list[list[Any]], order: list[int], columns: Columns) -> np.ndarray | None:
    """Column by column, each with its own check, into feature order."""
    rows = np.empty((len(data), len(order)), dtype=np.float64)
    for j, column in enumerate(zip(*data, strict=True)):
        encoded = columns.checks[order[j]](column)
        if encoded is None:
            return None
        rows[:, order[j]] = encoded
    return rows


def _plain_rows(
    values: Sequence[Sequence[Any]], n_rows: int, n: int, typed: bool = False
) -> np.ndarray | None:
    """Numbers only: one type check (skipped when ``typed``: the text showed only
    numbers) and one conversion for the whole batch."""
    flat = list(chain.from_iterable(values))
    if not typed and not set(map(type, flat)) <= _NUMBERS:
        return None
    try:  # fromiter: about half the time of np.array on a list of tuples
        return np.fromiter(flat, dtype=np.float64, count=len(flat)).reshape(n_rows, n)
    except (OverflowError, TypeError, ValueError):  # typed: still a list as a value
        return None


def _mixed_rows(values: list[tuple[Any, ...]], columns: Columns) -> np.ndarray | None:
    """Column by column, each with its own check."""
    rows = np.empty((len(values), len(columns.features)), dtype=np.float64)
    by_column = zip(*values, strict=True)  # every record gave one value per feature
    for j, (check, column) in enumerate(zip(columns.checks, by_column, strict=True)):
        encoded = check(column)
        if encoded is None:
            return None
        rows[:, j] = encoded
    return rows
