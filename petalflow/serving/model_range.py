"""Numbers a model cannot score: finite in the request, but not once scaled.

A contract's bounds are optional, and a feature without an upper one accepts any finite
number. Scaled by its training data, a huge one overflows: to infinity in float64, or in
float32, which a forest's trees compare. Both scikit-learn and the fast path then refuse
the whole batch with a ValueError; this names the row and the feature instead, for a 422.
It runs only once a prediction has failed, never on the request path.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from petalflow.core.contract import ModelContract
from petalflow.core.errors import InvalidRequestError
from petalflow.serving.fastpath import UnsupportedError, compile_preprocessor

logger = logging.getLogger(__name__)

_DOUBLE_MAX = float(np.finfo(np.float64).max)
_WIDTHS = (
    (np.float64, "a float64"),
    (np.float32, "a float32, as the forest's trees compare it"),
)


def unscorable(
    pipeline: Any, contract: ModelContract, rows: np.ndarray
) -> InvalidRequestError | None:
    """The 422 naming the first number of ``rows`` (encoded, in the contract's order) that
    the model's scaling turns into an infinity; None if there is none (or the pipeline's
    first step is not one petalflow fits)."""
    try:
        pre = compile_preprocessor(pipeline.steps[0][1], contract)
    except (UnsupportedError, AttributeError, IndexError, TypeError):
        return None
    names = contract.feature_names
    # float32 only where the model compares float32: trees (a linear model's error
    # with such a number would be another's, not the client's)
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import BaseDecisionTree

    trees = (BaseDecisionTree, RandomForestClassifier, ExtraTreesClassifier)
    widths = _WIDTHS if isinstance(pipeline.steps[-1][1], trees) else _WIDTHS[:1]
    for width, words in widths:
        for number in pre.numbers:
            values = rows[:, number.feature]
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = ((values - number.mean) / number.scale).astype(width)
            bad = np.flatnonzero(np.isinf(scaled))
            if bad.size:
                limit = min(float(np.finfo(width).max) * number.scale, _DOUBLE_MAX)
                low, high = number.mean - limit, number.mean + limit
                return _error(
                    names[number.feature],
                    int(bad[0]),
                    len(rows),
                    values[bad[0]],
                    words,
                    (low, high),
                )
    return None


def _error(
    name: str, row: int, n_rows: int, value: float, words: str, bounds: tuple[float, float]
) -> InvalidRequestError:
    where = f"row {row}, {name}" if n_rows > 1 else name
    message = (
        f"{where}: {value:g} is out of the range this model can score: scaled by its "
        f"training data it must fit {words} (from {bounds[0]:.6g} to {bounds[1]:.6g}); "
        "send a value in the range of the data (or give the contract bounds)"
    )
    return InvalidRequestError(
        message, [{"field": name, "rule": "model_range", "message": message}]
    )
