"""The columnar form of a /predict/batch body: ``{"columns": [...], "data": [[...], ...]}``.

One list of column names, then each row as a list of values in that order: no key
repeated per row, so a 1,000-row batch is a fifth of the row form's bytes, parsed and
checked column by column (``batch_check.fast_split``, the path of MLflow's
``dataframe_split`` too). It is as strict as the row form: the names are features, each
once, in any order (a nullable feature's column may be left out, as its key may be left
out of a record: null); every row is a list of one value per column; the values obey the
same request model, whose errors name ``data.<row>.<feature>`` as the row form names
``instances.<row>.<feature>``. Unlike /invocations, nothing is ignored: an unknown column
or top-level key is refused.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pydantic_core

from petalflow.core.errors import InvalidRequestError
from petalflow.serving.duplicate_keys import duplicate_key_error
from petalflow.serving.request_models import RequestModels
from petalflow.serving.schemas import error_details, summarize

KEYS = ("columns", "data")


def is_columnar(payload: Any) -> bool:
    """Whether a parsed /predict/batch body chose the columnar form."""
    return type(payload) is dict and ("columns" in payload or "data" in payload)


def _refuse(field: str | None, rule: str, message: str) -> InvalidRequestError:
    details = [{"field": field, "rule": rule, "message": f"{field or 'body'}: {message}"}]
    return InvalidRequestError(f"invalid request: {summarize(details)}", details)


def row_count(payload: dict[str, Any]) -> int:
    """The rows of a columnar body, once its keys are checked (for MAX_BATCH_ROWS, before
    any value is): 422 for a key beside ``columns`` and ``data``, or ``data`` not a list."""
    if "instances" in payload:
        raise _refuse(
            "instances",
            "extra_forbidden",
            "a body holds rows either as instances (objects) or as columns and data, "
            "not both; send one form",
        )
    extra = [key for key in payload if key not in KEYS]
    if extra:
        raise _refuse(str(extra[0])[:64], "extra_forbidden", "Extra inputs are not permitted")
    for key in KEYS:
        if key not in payload:
            raise _refuse(key, "missing", "Field required (the columnar form is columns and data)")
    data = payload["data"]
    if type(data) is not list:
        raise _refuse("data", "list_type", "Input should be a valid list (of rows)")
    return len(data)


def columnar_rows(
    payload: dict[str, Any], models: RequestModels, body: bytes | None = None, fast: bool = True
) -> np.ndarray:
    """Encoded rows (n, n_features) in feature order of a columnar body whose keys
    ``row_count`` checked (``body``: its JSON text, which can spare checking each value's
    type); InvalidRequestError (422) naming the field, row and rule."""
    names, data = payload["columns"], payload["data"]
    # Not ``fast`` (NaN or Infinity read from the body): the check would take one in a
    # nullable column for a gap; the request model refuses it, naming the value.
    rows = models.fast_split(names, data, body) if fast else None
    if rows is not None:  # the usual body
        return rows
    _check_names(names, models)
    if not data:
        raise _refuse("data", "too_short", "List should have at least 1 item (a row), not 0")
    n = len(names)
    for i, row in enumerate(data):
        if type(row) is not list:
            raise _refuse(f"data.{i}", "list_type", f"Input should be a list of {n} values")
        if len(row) != n:
            rule = "too_short" if len(row) < n else "too_long"
            message = f"{len(row)} values, but there are {n} columns; send one per column"
            raise _refuse(f"data.{i}", rule, message)
    return _validated(names, data, models)


def _check_names(names: Any, models: RequestModels) -> None:
    """Column names: strings, features, each once; every required feature among them."""
    if type(names) is not list or not all(type(name) is str for name in names):
        raise _refuse("columns", "list_type", "Input should be a list of feature names")
    if len(set(names)) < len(names):  # which column counts would be a guess
        repeats = [(name, n) for name, n in Counter(names).items() if n > 1]
        raise duplicate_key_error(repeats, within="columns", unit="column")
    features = models.features
    for j, name in enumerate(names):
        if name not in models.columns.positions:
            message = f"{name[:64]!r} is not a feature; the features are {list(features)}"
            raise _refuse(f"columns.{j}", "extra_forbidden", message)
    given = set(names)
    missing = [s.name for s in models.specs if not s.nullable and s.name not in given]
    if missing:
        message = (
            f"missing {missing}: every feature that is not nullable needs its column; "
            f"the features are {list(features)}"
        )
        raise _refuse("columns", "missing", message)


def json_schema(models: RequestModels) -> dict[str, Any]:
    """The columnar body's JSON schema: the row model's value rules, every column's
    (a value's rule depends on its column, which JSON Schema cannot say), and an example."""
    properties = models.row.model_json_schema()["properties"]
    values: dict[str, Any] = {}
    for name in models.features:  # the rules only: no title, description, example
        rules = {k: v for k, v in properties[name].items() if k not in _NOTES}
        values.setdefault(repr(sorted(rules.items())), rules)
    kinds = list(values.values())
    n, required = len(models.features), sum(not s.nullable for s in models.specs)
    row = {"type": "array", "minItems": required, "maxItems": n}
    row["items"] = kinds[0] if len(kinds) == 1 else {"anyOf": kinds}
    example = models.example
    schema: dict[str, Any] = {
        "title": "PredictBatchColumnarRequest",
        "description": "Several rows in columns: the names (features, each once, in any "
        "order; a nullable one may be left out), then each row's values in that order. "
        "The row limit is a setting (MAX_BATCH_ROWS).",
        "type": "object",
        "properties": {
            "columns": {
                "type": "array",
                "items": {"enum": list(models.features)},
                "uniqueItems": True,
                "minItems": required,
                "maxItems": n,
            },
            "data": {"type": "array", "minItems": 1, "items": row},
        },
        "required": list(KEYS),
        "additionalProperties": False,
    }
    if example is not None:
        columns = list(models.features)
        schema["examples"] = [{"columns": columns, "data": [[example[c] for c in columns]]}]
    return schema


_NOTES = frozenset({"title", "description", "examples", "default"})


def _validated(names: list[str], data: list[list[Any]], models: RequestModels) -> np.ndarray:
    """The rows, validated one by one by the row model: the error names the first invalid
    row's fields (``data.<row>.<feature>``) and rules."""
    items = []
    for i, row in enumerate(data):
        try:
            items.append(models.row.model_validate(dict(zip(names, row, strict=True))))
        except pydantic_core.ValidationError as exc:
            details = error_details(exc, ("data", i))
            raise InvalidRequestError(f"invalid request: {summarize(details)}", details) from None
    return models.rows_of(items)
