"""MLflow's scoring protocol (the /invocations body), validated like /predict.

Accepted: ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``
(records, columns or rows in feature order), as `mlflow models serve` accepts them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import orjson
import pydantic_core

from petalflow.core.errors import ClientError
from petalflow.serving.duplicate_keys import check_unique_keys, duplicate_key_error
from petalflow.serving.request_models import RequestModels
from petalflow.serving.schemas import error_details, summarize

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class PayloadError(ClientError):
    """A scoring payload that is not one of MLflow's formats (422 unless said otherwise)."""

    status = 422
    code = "validation_error"

    def __init__(
        self,
        message: str,
        status: int | None = None,
        error: str | None = None,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        details = details or [{"field": field, "rule": "format", "message": message}]
        super().__init__(message, details, status=status, code=error)


def _records(key: str, value: Any, features: list[str]) -> list[Any]:
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise PayloadError(
                "dataframe_split must be an object with a 'data' list (and 'columns')", field=key
            )
        columns = value.get("columns", features)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise PayloadError(
                "dataframe_split.columns must be a list of column names", field=f"{key}.columns"
            )
        if len(set(columns)) < len(columns):  # a repeated column: the last would win
            repeats = [(c, n) for c, n in Counter(columns).items() if n > 1]
            raise duplicate_key_error(repeats, within=f"{key}.columns", unit="column")
        rows = value["data"]
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                raise PayloadError(
                    f"dataframe_split.data.{i} must be a list of {len(columns)} values",
                    field=f"{key}.data.{i}",
                )
        return [dict(zip(columns, row, strict=True)) for row in rows]
    if isinstance(value, dict) and key != "dataframe_records":
        # Columnar form: {"feature": [values, ...], ...}.
        lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise PayloadError(f"{key} as columns needs lists of equal length", field=key)
        n = lengths.pop()
        return [{k: v[i] for k, v in value.items()} for i in range(n)]
    if not isinstance(value, list):
        raise PayloadError(f"{key} must be a list of records", field=key)
    return [
        dict(zip(features, r, strict=False))
        if isinstance(r, list) and len(r) == len(features)
        else r
        for r in value
    ]


def loads(body: bytes) -> Any:
    """Parse JSON with orjson (fast); pydantic's parser decides what orjson refuses.

    Raises DuplicateKeyError if an object repeats a key (both parsers keep the last).
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = pydantic_core.from_json(body, allow_inf_nan=False)
    check_unique_keys(body, keys_at_least(document))
    return document


def keys_at_least(document: Any, depth: int = 3) -> int:
    """How many keys a parsed document holds, at least: its objects ``depth`` levels
    down, and the records (objects) of its lists, whose values are not looked into.

    A lower bound suffices for ``check_unique_keys``; counting a list of records costs
    one ``len`` per record, in C.
    """
    if type(document) is dict:
        n = len(document)
        if depth:
            for value in document.values():
                if type(value) is dict or type(value) is list:
                    n += keys_at_least(value, depth - 1)
        return n
    if type(document) is list and document and type(document[0]) is dict:
        try:
            return sum(map(dict.__len__, document))
        except TypeError:  # not only records: count none
            return 0
    return 0


def parse_payload(body: bytes, models: RequestModels) -> np.ndarray:
    """Rows (n, len(features)) in feature order; pydantic errors name ``<format>.<i>.<field>``."""
    try:
        payload = loads(body)
    except ValueError as exc:
        raise PayloadError(
            f"body is not valid JSON: {exc}", status=400, error="malformed_json"
        ) from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object with one of: " + ", ".join(FORMATS))
    keys = [k for k in payload if k in FORMATS]
    unknown = sorted(set(payload) - set(FORMATS) - {"params"})
    if len(keys) != 1 or unknown:
        raise PayloadError(
            f"body must have exactly one of {', '.join(FORMATS)} (got {sorted(payload)})",
            field=(unknown or [None])[0],
        )
    key, features = keys[0], list(models.features)
    if key != "dataframe_split":  # records already as dicts (the usual case): no copy
        rows = models.fast_rows(payload[key])
        if rows is not None:
            return rows
    records = _records(key, payload[key], features)
    if not records:
        raise PayloadError(f"{key} holds no rows; send at least one", field=key)
    rows = models.fast_rows(records)
    if rows is not None:
        return rows
    items = []
    for i, record in enumerate(records):
        try:
            items.append(models.row.model_validate(record))
        except pydantic_core.ValidationError as exc:
            details = error_details(exc, (key, i))
            raise PayloadError(f"invalid request: {summarize(details)}", details=details) from None
    return models.rows_of(items)
