"""The rows a fast path is verified on, encoded as the server holds them (codec).

The contract's verification rows (training rows, gaps as NaN); random rows inside the
contract's bounds with every category and gaps in nullable features; the first of them
again with every nullable feature a gap; and, for forests, rows a few ulps around
sampled splits on numbers (splits on one-hot columns have no raw value to sit near).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from petalflow.core.contract import FeatureSpec, ModelContract
from petalflow.serving.fastpath.base import FloatArray, NumericInput, UnsupportedError
from petalflow.serving.fastpath.columns import compile_preprocessor

logger = logging.getLogger(__name__)

RANDOM_ROWS = 2000  # at least; more when a feature has more categories
NULL_RATE = 0.1  # of random rows with a gap, per nullable feature
GAP_ROWS = 20  # random rows repeated with every nullable feature a gap
SAMPLED_SPLITS = 100  # forest splits that get rows a few ulps around them


def _bounded(feature: FeatureSpec, sample: FloatArray, n: int, rng: Any) -> FloatArray:
    """``n`` uniform values inside the feature's bounds; unbounded sides reach 3 standard
    deviations of the sample (or +-100 when it has no spread) past its extremes."""
    known = sample[~np.isnan(sample)]
    known = known if len(known) else np.zeros(1)
    spread = 3 * float(known.std()) or 100.0
    low = feature.ge if feature.ge is not None else feature.gt
    high = feature.le if feature.le is not None else feature.lt
    low = float(known.min()) - spread if low is None else float(low)
    high = float(known.max()) + spread if high is None else float(high)
    # high - U[0, 1) lies in (low, high]: an open lower bound is never hit.
    return high - rng.uniform(0.0, 1.0, size=n) * (high - low)


def _random_rows(contract: ModelContract, base: FloatArray, rng: Any) -> FloatArray:
    """Rows in bounds: bool 0/1, each category equally often, NULL_RATE gaps where nullable
    (one row of each category is never a gap)."""
    n = max([RANDOM_ROWS, *(len(f.categories or []) for f in contract.features)])
    columns = []
    for j, feature in enumerate(contract.features):
        kept = np.zeros(n, dtype=bool)
        if feature.type == "category":
            order = rng.permutation(n)
            column = (order % len(feature.categories or [])).astype(np.float64)
            kept = order < len(feature.categories or [])
        elif feature.type == "bool":
            column = rng.integers(0, 2, size=n).astype(np.float64)
        else:
            column = _bounded(feature, base[:, j] if len(base) else np.zeros(1), n, rng)
        if feature.nullable:
            column[(rng.uniform(0.0, 1.0, size=n) < NULL_RATE) & ~kept] = np.nan
        columns.append(column)
    return np.column_stack(columns)


def _split_rows(
    forest: Any, numbers: list[NumericInput], anchor: FloatArray, rng: Any
) -> list[FloatArray]:
    """18 rows per sampled split on a number: z at the split, its float32 rounding and
    neighbours and the midpoints, in raw units and +-1 ulp, on random anchor rows."""
    units = {n.column: n for n in numbers}
    splits = np.concatenate(
        [[e.tree_.feature, e.tree_.threshold] for e in forest.estimators_], axis=1
    ).T
    splits = splits[np.isin(splits[:, 0], list(units))]
    parts = []
    picked = rng.choice(len(splits), size=min(SAMPLED_SPLITS, len(splits)), replace=False)
    for column, t in splits[picked]:
        number = units[int(column)]
        t32 = np.float32(t)
        up, down = (float(np.nextafter(t32, np.float32(s))) for s in (np.inf, -np.inf))
        z = np.array([t, t32, up, down, (float(t32) + up) / 2, (float(t32) + down) / 2])
        x = z * number.scale + number.mean  # back to raw units, then +- 1 ulp
        rows = anchor[rng.integers(len(anchor), size=3 * len(x))]
        rows[:, number.feature] = np.concatenate(
            [x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)]
        )
        parts.append(rows)
    return parts


def verification_inputs(pipeline: Any, contract: ModelContract, seed: int = 0) -> FloatArray:
    """Encoded rows to verify a fast path on (see the module's docstring)."""
    width = len(contract.features)
    base = np.array(
        [[np.nan if v is None else v for v in row] for row in contract.verification_rows],
        dtype=np.float64,
    ).reshape(-1, width)
    rng = np.random.default_rng(seed)
    random = _random_rows(contract, base, rng)
    parts = [base, random]
    nullable = [j for j, f in enumerate(contract.features) if f.nullable]
    if nullable:
        gaps = random[:GAP_ROWS].copy()
        gaps[:, nullable] = np.nan
        parts.append(gaps)
    forest = pipeline.steps[-1][1]
    if isinstance(forest, RandomForestClassifier) and len(pipeline.steps) == 2:
        try:
            numbers = compile_preprocessor(pipeline.steps[0][1], contract).numbers
        except UnsupportedError:
            numbers = []
        parts += _split_rows(forest, numbers, base if len(base) else random, rng)
    return np.concatenate(parts)
