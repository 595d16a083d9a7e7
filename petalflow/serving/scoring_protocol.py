"""MLflow's scoring protocol: an /invocations body as encoded rows, as MLflow reads it.

JSON (``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``), CSV and
parquet, accepted and refused as `mlflow models serve` does, with the deliberate
differences of the README's compatibility table (the contract's rules, repeated keys).
The usual body, records or split rows holding exactly the features, takes the
vectorised check; anything else goes through ``scoring_tables`` and ``scoring_values``.
Top-level keys beside the format, ``params`` and columns that are no feature are ignored,
as MLflow ignores them, and returned so that the caller logs and counts them; but a body
with ``messages``, ``prompt`` or ``input`` is MLflow's LLM input, refused by a tabular model.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import orjson
import pydantic_core

from petalflow.core.errors import ClientError
from petalflow.serving.duplicate_keys import check_unique_keys
from petalflow.serving.request_models import RequestModels, as_utf8
from petalflow.serving.scoring_frames import csv_table, parquet_table
from petalflow.serving.scoring_tables import (
    INVALID_PARAMETER_VALUE,
    SPLIT_KEYS,
    ScoringError,
    from_json,
)
from petalflow.serving.scoring_values import rows_of_table

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_LLM_KEYS = frozenset({"messages", "prompt", "input"})  # MLflow's unified LLM input


class Parsed(NamedTuple):
    """A body's encoded rows, and the names it held that were ignored, by kind
    (``column``, ``key``, ``param``)."""

    rows: np.ndarray
    ignored: dict[str, tuple[str, ...]]


def loads(body: bytes, allow_inf_nan: bool = False) -> Any:
    """Parse JSON with orjson (fast); pydantic's parser decides what orjson refuses
    (``NaN`` and ``Infinity`` too, if ``allow_inf_nan``, as Python's json module reads them).

    Raises DuplicateKeyError if an object repeats a key (both parsers keep the last).
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        body = as_utf8(body)
        document = pydantic_core.from_json(body, allow_inf_nan=allow_inf_nan)
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


def parse_payload(
    body: bytes, models: RequestModels, media: str = "json", max_rows: int | None = None
) -> Parsed:
    """Rows (n, len(features)) in feature order from a body of kind ``media`` (``json``,
    ``csv``, ``parquet``); ClientError (400) as MLflow refuses, or by the contract.

    ``max_rows``: more rows are refused (413) before their values are converted (the
    usual body's rows are counted by the caller).
    """
    if media != "json":
        if media == "csv":
            table = csv_table(body, models.specs)
        else:
            table = parquet_table(body, models.specs, max_rows)
        rows, columns = rows_of_table(table, models, max_rows)
        return Parsed(rows, {"column": columns})
    payload = _document(body)
    key = _format_key(payload)
    value = payload[key]
    ignored = _ignored_keys(payload, key)
    # the usual body: one vectorised check, no copy (split rows: no object per row)
    fast = _split_rows(value, models) if key == "dataframe_split" else models.fast_rows(value)
    if fast is not None:
        return Parsed(fast, ignored)
    required = frozenset(spec.name for spec in models.specs if not spec.nullable)
    table = from_json(key, value, required, frozenset(models.features))
    rows, ignored["column"] = rows_of_table(table, models, max_rows)
    return Parsed(rows, ignored)


def _document(body: bytes) -> dict[str, Any]:
    """The JSON object of a body (NaN and Infinity read as MLflow's json module does)."""
    try:
        payload = loads(body, allow_inf_nan=True)
    except ValueError as exc:
        raise ClientError(
            f"body is not valid JSON: {exc}", status=400, code="malformed_json"
        ) from None
    if not isinstance(payload, dict):
        raise ScoringError(
            f"The input must be a JSON object with exactly one of the input fields "
            f"{', '.join(FORMATS)}; got {type(payload).__name__}"
        )
    return payload


def _format_key(payload: dict[str, Any]) -> str:
    """The body's one format key; ScoringError as MLflow refuses the body."""
    if llm := sorted(_LLM_KEYS.intersection(payload)):
        raise ScoringError(  # MLflow passes such a body to the model as it is
            f"a body with {', '.join(llm)} is an LLM request (MLflow's unified chat, "
            "completions and embeddings input), which this tabular model cannot take; send "
            f"only one of {', '.join(FORMATS)}",
            field=llm[0],
            mlflow_code=INVALID_PARAMETER_VALUE,
        )
    keys = [k for k in payload if k in FORMATS]
    if len(keys) != 1:
        shown = sorted(str(k)[:64] for k in payload)[:10]
        raise ScoringError(
            f"The input must be a JSON object with exactly one of the input fields "
            f"{', '.join(FORMATS)}; got {shown}"
        )
    return keys[0]


def _ignored_keys(payload: dict[str, Any], key: str) -> dict[str, tuple[str, ...]]:
    """Top-level keys beside the format, and the params (the model takes none)."""
    if len(payload) == 1:  # the usual body: the format alone
        return {}
    params = payload.get("params")
    ignored = {"key": tuple(k for k in payload if k != key and k != "params")}
    if isinstance(params, dict):
        ignored["param"] = tuple(params)
    elif params not in (None, []):
        ignored["param"] = ("params",)
    return ignored


def _split_rows(value: Any, models: RequestModels) -> np.ndarray | None:
    """``dataframe_split``'s rows when its columns are exactly the features and every
    row obeys the contract (else None: ``scoring_tables`` reads it)."""
    if type(value) is not dict or value.keys() - SPLIT_KEYS:
        return None
    data, index = value.get("data"), value.get("index")
    if type(data) is not list:
        return None
    if index is not None and (type(index) is not list or len(index) != len(data)):
        return None
    return models.fast_split(value.get("columns"), data)
