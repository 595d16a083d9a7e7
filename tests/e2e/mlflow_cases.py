"""Requests for `mlflow models serve` and petalflow, derived from MLflow's own tests.

Each case names where it comes from: a test of MLflow's ``tests/pyfunc/test_scoring_server.py``
(``scoring_server::<test>``) or ``tests/pyfunc/test_pyfunc_schema_enforcement.py``
(``schema_enforcement::<test>``), the scoring server's source
(``mlflow/pyfunc/scoring_server/__init__.py``, "source"), MLflow's docs on the scoring
protocol ("docs"), or issue #17's list ("issue"). A case with ``differs`` set is one of the
deliberate differences of the README's compatibility table (``DIFFERENCES``): there the
test checks both servers' documented statuses instead of their agreement.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
SERVER = "scoring_server::test_scoring_server_"  # prefix of MLflow's server tests
ENFORCEMENT = "schema_enforcement::test_column_schema_enforcement"
SOURCE = "source: mlflow/pyfunc/scoring_server/__init__.py"


@dataclass(frozen=True)
class Difference:
    """A README table row: what differs, and each server's status for it."""

    title: str
    mlflow: int
    petalflow: int


# Keys are used by the cases; titles are the README table's first column, word for word.
DIFFERENCES = {
    "bounds": Difference("A value outside the contract's bounds", 200, 400),
    "whole": Difference("A fractional value for an `int` feature", 200, 400),
    "categories": Difference(
        "A value that is not one of a category feature's categories", 200, 400
    ),
    "booleans": Difference("`true` or `false` for a number feature", 200, 400),
    "nulls": Difference("A null or a gap in a feature that is not nullable", 200, 400),
    "duplicate_keys": Difference(
        "A key repeated in one JSON object, or a column in a CSV header", 200, 400
    ),
    "csv_shift": Difference("CSV rows with one field more than the header", 200, 400),
    "split_index": Difference("More `dataframe_split.index` labels than rows", 200, 400),
    "no_content_type": Difference("No `Content-Type` header", 500, 415),
    "body_limit": Difference("A body over `MAX_BODY_BYTES` (1 MiB)", 200, 413),
    "row_limit": Difference("More rows than `MAX_BATCH_ROWS` (10,000)", 200, 413),
    "trailing_slash": Difference("A path with a trailing slash (`/invocations/`)", 307, 404),
}


@dataclass(frozen=True)
class Case:
    """One request: sent as is to both servers."""

    name: str
    origin: str
    body: Any = None  # bytes as they are; anything else as JSON
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "/invocations"
    differs: str | None = None

    def content(self) -> bytes | None:
        if self.body is None or isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()

    def headers(self) -> dict[str, str]:
        return {} if self.content_type is None else {"content-type": self.content_type}


def csv_of(rows: list[list[Any]], columns: list[str], index: bool = False) -> bytes:
    return pd.DataFrame(rows, columns=columns).to_csv(index=index).encode()


def parquet_of(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out)
    return out.getvalue()


def health_cases() -> list[Case]:
    """The routes around /invocations: the same for any model."""
    client = "scoring_server::test_scoring_server_client"
    return [
        Case("ping", client, None, None, "GET", "/ping"),
        Case("version", client, None, None, "GET", "/version"),
        Case("health", SOURCE, None, None, "GET", "/health"),
        Case("get-invocations", SOURCE, None, None, "GET", "/invocations"),
        Case("unknown-route", SOURCE, None, None, "GET", "/nowhere"),
    ]


def media_cases(record: dict[str, Any]) -> list[Case]:
    """Content types and charsets, with a valid body (MLflow's header checks come first)."""
    body = {"dataframe_records": [record]}
    content_type = f"{SERVER}responds_to_invalid_content_type_request_with_"
    return [
        Case(
            "charset-utf8",
            f"{SERVER}successfully_evaluates_correct_dataframes_with_pandas_records_orientation",
            body,
            JSON + "; charset=UTF-8",
        ),
        Case(
            "unsupported-type",
            f"{content_type}unsupported_content_type_code",
            body,
            "not_a_supported_content_type",
        ),
        Case(
            "unrecognized-parameter",
            f"{content_type}unrecognized_content_param",
            body,
            JSON + "; something=something",
        ),
        Case("format-parameter", "issue", body, JSON + "; format=pandas-split"),
        Case("latin1-charset", SOURCE, body, JSON + "; charset=latin-1"),
        Case("text-plain", SOURCE, body, "text/plain"),
        Case("uppercase-type", SOURCE, body, "Application/JSON"),
        Case("json-suffix-type", SOURCE, body, "application/vnd.api+json"),
        Case("no-content-type", SOURCE, body, None, differs="no_content_type"),
        # json.loads reads bytes behind a byte order mark, and UTF-16 and UTF-32.
        Case("json-utf8-bom", SOURCE, json.dumps(body).encode("utf-8-sig")),
        Case("json-utf16", SOURCE, json.dumps(body).encode("utf-16")),
        Case("json-utf32-le", SOURCE, json.dumps(body).encode("utf-32-le")),
        Case("trailing-slash", SOURCE, body, JSON, "POST", "/invocations/", "trailing_slash"),
    ]


def malformed_cases() -> list[Case]:
    """Bodies that are no scoring payload at all."""
    malformed = f"{SERVER}responds_to_malformed_json_input_with_error_code_and_message"
    invalid = f"{SERVER}responds_to_invalid_json_format_with_error_code_and_message"
    return [
        Case("malformed-json", malformed, b"this is,,,, not valid json"),
        Case("empty-body", malformed, b""),
        Case("invalid-utf8", SOURCE, b'{"dataframe_records": [{"a": "\xff"}]}'),
        Case("json-number", invalid, b"1"),
        Case("json-string", invalid, b'"1"'),
        Case("json-list", invalid, b"[1]"),
        Case("not-a-dataframe", invalid, {"not": "a serialized dataframe"}),
        Case("two-formats", invalid, {"dataframe_records": [], "dataframe_split": {"data": []}}),
        Case("params-only", SOURCE, {"params": {"a": 1}}),
    ]
