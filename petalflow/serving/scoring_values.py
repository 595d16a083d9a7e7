"""A scoring table's values as encoded rows: MLflow's conversions, then the contract.

What `mlflow models serve` converts, petalflow converts the same way: a numeric string
(``"5.1"``, ``" 5.1 "``, ``"1e0"``) becomes the number Python's ``float`` reads, a NaN (the
JSON literal, a CSV gap, ``"nan"``) is a null, and columns that are not features are
ignored (the caller logs and counts them). A feature column left out is refused (400),
nullable or not, as MLflow refuses it.

Then the contract decides, exactly as on /predict (pydantic, after the vectorised check):
bounds, whole numbers for ``int``, categories, and no null or gap in a feature that is not
nullable. These are the deliberate differences from MLflow, which scores such values
(out of range, a boolean read as 1.0, a null) without a word; the README's compatibility
table lists each one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pydantic_core

from petalflow.core.contract import FeatureSpec
from petalflow.core.errors import TooManyRowsError
from petalflow.serving.request_models import RequestModels
from petalflow.serving.schemas import error_details, summarize
from petalflow.serving.scoring_tables import (
    ABSENT,
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    ScoringError,
    Table,
)

_NUMBER = (
    "Input should be a number (numeric strings are converted; booleans, lists and objects "
    "are refused, and null or NaN only where the feature is nullable)"
)
Converter = Callable[[list[Any], str, str], list[Any]]


def rows_of_table(
    table: Table, models: RequestModels, max_rows: int | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Encoded rows (n, n_features) of ``table``, and the names of the columns ignored;
    TooManyRowsError (413) past ``max_rows``, before any value is converted."""
    _check_columns(table, models)
    if max_rows is not None and table.rows > max_rows:
        raise TooManyRowsError("rows", table.rows, max_rows)
    features = set(models.features)
    ignored = tuple(str(name) for name in table.columns if name not in features)
    if table.rows == 0:
        raise ScoringError(
            f"{table.source} holds no rows; send at least one", field=table.source, rule="empty"
        )
    converted = [
        _converter(spec)(table.columns[spec.name], spec.name, table.source) for spec in models.specs
    ]
    names = models.features
    records = [
        {name: value for name, value in zip(names, row, strict=True) if value is not ABSENT}
        for row in zip(*converted, strict=True)
    ]
    rows = models.fast_rows(records)
    if rows is None:
        rows = _validated(records, models, table.source)
    return rows, ignored


def _check_columns(table: Table, models: RequestModels) -> None:
    """Every feature is a column (MLflow: "Model is missing inputs"); a nullable one too,
    which MLflow's pipeline cannot find either (its gaps may be null or left out)."""
    missing = [spec for spec in models.specs if spec.name not in table.columns]
    if not missing:
        return
    required = [spec.name for spec in missing if not spec.nullable]
    names = [spec.name for spec in missing]
    advice = "send every feature as a column"
    if len(required) < len(names):
        advice += " (a nullable feature's values may be null, but its column is needed)"
    raise ScoringError(
        f"Model is missing inputs {names}: {advice}; the features are {list(models.features)}",
        field=names[0],
        rule="missing_columns",
        mlflow_code=INVALID_PARAMETER_VALUE if required else BAD_REQUEST,
    )


def _converter(spec: FeatureSpec) -> Converter:
    if spec.type in ("float", "int"):
        return _numbers
    return _others


def _numbers(values: list[Any], name: str, source: str) -> list[Any]:
    """Numeric strings as numbers and NaN as null; anything else is the contract's call."""
    out = []
    for row, value in enumerate(values):
        kind = type(value)
        if kind is float:
            out.append(None if value != value else value)
        elif kind is str:
            out.append(_number(value, name, source, row))
        else:
            out.append(value)
    return out


def _number(text: str, name: str, source: str, row: int) -> float | None:
    """A numeric string as MLflow reads it (Python's float); NaN is a null."""
    try:
        number = float(text)
    except ValueError:
        raise ScoringError(
            f"{source}: failed to convert column {name} to type 'float64': could not convert "
            f"string to float: {text[:64]!r} (row {row})",
            field=f"{source}.{row}.{name}",
            rule="float_parsing",
        ) from None
    return None if number != number else number


def _others(values: list[Any], name: str, source: str) -> list[Any]:
    """Categories and booleans as sent, NaN as null (a CSV or parquet gap)."""
    return [None if type(v) is float and v != v else v for v in values]


def _validated(records: list[dict[str, Any]], models: RequestModels, source: str) -> np.ndarray:
    """The rows, validated one by one by the request model: the error names the first
    invalid row's fields and rules."""
    items = []
    for i, record in enumerate(records):
        try:
            items.append(models.row.model_validate(record))
        except pydantic_core.ValidationError as exc:
            details = error_details(exc, (source, i), number=_NUMBER)
            raise ScoringError(
                f"invalid request: {summarize(details)}", details=details, mlflow_code=BAD_REQUEST
            ) from None
    return models.rows_of(items)
