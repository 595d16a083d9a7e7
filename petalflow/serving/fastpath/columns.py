"""Compiling a fitted preprocessing step (StandardScaler or ColumnTransformer) or refusing it.

Each part is checked against what it must be for the fast path to repeat it exactly;
anything else raises ``UnsupportedError`` naming the part.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from petalflow.core.contract import ModelContract
from petalflow.serving.fastpath.base import NumericInput, Preprocessor, UnsupportedError
from petalflow.serving.fastpath.preprocess import (
    CategoryInput,
    ColumnPreprocessor,
    ScalerPreprocessor,
    scaler_params,
)

logger = logging.getLogger(__name__)


def compile_preprocessor(step: Any, contract: ModelContract | None) -> Preprocessor:
    """The fast path's copy of a pipeline's first step; UnsupportedError for an unknown one."""
    if type(step) is StandardScaler:
        return ScalerPreprocessor(*scaler_params(step))
    if type(step) is not ColumnTransformer:
        name = type(step).__name__
        raise UnsupportedError(f"the first step is {name}, not StandardScaler or ColumnTransformer")
    if contract is None:
        raise UnsupportedError("a ColumnTransformer needs the model contract")
    return _compile_columns(step, contract)


def _compile_columns(ct: ColumnTransformer, contract: ModelContract) -> ColumnPreprocessor:
    names = contract.feature_names
    names_in = getattr(ct, "feature_names_in_", None)
    if ct.n_features_in_ != len(names) or (names_in is not None and list(names_in) != names):
        raise UnsupportedError(f"the ColumnTransformer's features are not the contract's {names}")
    if ct.sparse_output_:
        raise UnsupportedError("the ColumnTransformer's output is sparse")
    numbers: list[NumericInput] = []
    categories: list[CategoryInput] = []
    n_outputs = 0
    for name, step, columns in ct.transformers_:
        out = ct.output_indices_[name]
        if out.start == out.stop:  # dropped, or no columns: nothing in the output
            continue
        if isinstance(step, str) or out.start != n_outputs:
            raise UnsupportedError(f"the ColumnTransformer's {name!r} columns are {step!r}")
        features = _feature_indices(columns, names, name)
        imputer, last = _split(step, name)
        if type(last) is StandardScaler:
            numbers += _numbers(contract, features, imputer, last, out.start)
        elif type(last) is OneHotEncoder:
            categories += _categories(contract, features, imputer, last, out.start)
        else:
            raise UnsupportedError(
                f"the ColumnTransformer's {name!r} step is {type(last).__name__}"
            )
        n_outputs = out.stop
    columns_made = sorted([n.column for n in numbers] + [c for g in categories for c in g.columns])
    if columns_made[len(categories) :] != list(range(n_outputs)):
        raise UnsupportedError("the ColumnTransformer's output columns are not all accounted for")
    return ColumnPreprocessor(len(names), n_outputs, numbers, categories)


def _feature_indices(columns: Any, names: Sequence[str], group: str) -> list[int]:
    """Column names (or positions) as indices into the contract's features."""
    items = list(columns) if isinstance(columns, (list, tuple, np.ndarray)) else None
    if items and all(isinstance(c, str) and c in names for c in items):
        return [list(names).index(c) for c in items]
    if items and all(isinstance(c, (int, np.integer)) and 0 <= c < len(names) for c in items):
        return [int(c) for c in items]
    raise UnsupportedError(f"the ColumnTransformer's {group!r} columns are {columns!r}")


def _split(step: Any, group: str) -> tuple[SimpleImputer | None, Any]:
    """(imputer, final step) of ``step``: a bare step, or a Pipeline [SimpleImputer, step]."""
    if type(step) is not Pipeline:
        return None, step
    parts = [part for _, part in step.steps]
    if len(parts) != 2 or type(parts[0]) is not SimpleImputer:
        kinds = ", ".join(type(part).__name__ for part in parts)
        raise UnsupportedError(f"the ColumnTransformer's {group!r} step is Pipeline[{kinds}]")
    return parts[0], parts[1]


def _statistics(imputer: SimpleImputer | None, n: int) -> list[Any]:
    """The value a gap becomes, per column (None without an imputer)."""
    if imputer is None:
        return [None] * n
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)) or imputer.add_indicator:
        raise UnsupportedError("a SimpleImputer that does not just fill NaN")
    statistics = list(imputer.statistics_)
    if len(statistics) != n:
        raise UnsupportedError("a SimpleImputer that drops a column it never saw filled")
    return statistics


def _numbers(
    contract: ModelContract,
    features: list[int],
    imputer: SimpleImputer | None,
    scaler: StandardScaler,
    start: int,
) -> list[NumericInput]:
    """Numbers, imputed with the imputer's statistics, then scaled."""
    if any(not contract.features[j].numeric for j in features):
        raise UnsupportedError("a StandardScaler over a category feature")
    mean, scale = scaler_params(scaler)
    fills = [math.nan if s is None else float(s) for s in _statistics(imputer, len(features))]
    if imputer is not None and not all(map(math.isfinite, fills)):
        raise UnsupportedError("a SimpleImputer without a finite statistic")
    if len(mean) != len(features):
        raise UnsupportedError("a StandardScaler fitted on other columns")
    return [
        NumericInput(j, start + k, fills[k], float(mean[k]), float(scale[k]))
        for k, j in enumerate(features)
    ]


def _check_encoder(encoder: OneHotEncoder, n: int) -> None:
    if encoder.drop_idx_ is not None:
        raise UnsupportedError(f"OneHotEncoder(drop={encoder.drop!r})")
    if encoder.max_categories is not None or encoder.min_frequency is not None:
        raise UnsupportedError("a OneHotEncoder with infrequent categories")
    if len(encoder.categories_) != n:
        raise UnsupportedError("a OneHotEncoder fitted on other columns")


def _categories(
    contract: ModelContract,
    features: list[int],
    imputer: SimpleImputer | None,
    encoder: OneHotEncoder,
    start: int,
) -> list[CategoryInput]:
    """Categories, a gap imputed with the imputer's category, then one-hot encoded."""
    _check_encoder(encoder, len(features))
    fills = _statistics(imputer, len(features))
    inputs = []
    for j, known, fill in zip(features, encoder.categories_, fills, strict=True):
        spec = contract.features[j]
        if spec.type != "category" or not all(isinstance(c, str) for c in known):
            raise UnsupportedError(f"a OneHotEncoder over {spec.name!r}, not a text category")
        if not spec.categories:
            raise UnsupportedError(f"the contract lists no categories for {spec.name!r}")
        if imputer is not None and not isinstance(fill, str):
            raise UnsupportedError(f"a SimpleImputer filling {spec.name!r} with {fill!r}")
        position = {c: i for i, c in enumerate(known)}
        unknown = len(known)  # the slot of a value the encoder does not know: no column
        codes = {float(k): position.get(c, unknown) for k, c in enumerate(spec.categories)}
        missing = None if imputer is None else position.get(fill, unknown)
        if encoder.handle_unknown == "error" and unknown in [*codes.values(), missing]:
            raise UnsupportedError(f"OneHotEncoder(handle_unknown='error') without {spec.name!r}'s")
        columns = [start + i for i in range(len(known))] + [-1]
        inputs.append(CategoryInput(spec.name, j, columns, codes, missing))
        start += len(known)
    return inputs
