"""MLflow's JSON scoring formats as one table: column names, and each column's values.

`mlflow models serve` turns each format into a pandas DataFrame (or a dict of columns)
before it enforces the model's signature. ``from_json`` builds what reaches that step,
without pandas, and refuses what MLflow refuses there, with its status (400) and
``error_code``:

* ``dataframe_split``: an object with ``data`` and optionally ``columns`` and ``index``
  (one label per row); rows are lists (or objects, read by column name);
* ``dataframe_records``: a list of objects; a key left out of some of them is a gap;
* ``instances``: a list of objects, each with the same keys, or an object of columns;
* ``inputs``: a list of objects (gaps as in records), or an object of columns;
* an object of columns holds lists of one length, or scalars, repeated on every row (one
  row if all are scalars).

Rows without column names (lists of values, ``dataframe_split`` without ``columns``) are
refused as MLflow refuses them for a model with named columns: a different column order
would silently change every prediction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from petalflow.core.errors import ClientError
from petalflow.serving.duplicate_keys import duplicate_key_error

BAD_REQUEST = "BAD_REQUEST"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
SPLIT_KEYS = frozenset({"columns", "data", "index"})


class _Absent:
    """The value of a cell a record left out (a gap: null if the feature is nullable)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


class ScoringError(ClientError):
    """An /invocations body `mlflow models serve` refuses too: 400 and its error code."""

    status = 400
    code = "validation_error"

    def __init__(
        self,
        message: str,
        field: str | None = None,
        rule: str = "format",
        mlflow_code: str = BAD_REQUEST,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        details = details or [{"field": field, "rule": rule, "message": message}]
        super().__init__(message, details, mlflow_code=mlflow_code)


@dataclass(frozen=True)
class Table:
    """A body's columns: name -> one value per row (``ABSENT`` where a record left it
    out), or no value for a column that is no feature (it is ignored; building its values
    would make a body of many distinct keys cost rows x keys); ``source`` names the
    format in messages."""

    columns: dict[Any, list[Any]]
    rows: int
    source: str


def positional_error(key: str) -> ScoringError:
    """Rows without column names: MLflow cannot match them to the signature either."""
    return ScoringError(
        f"{key}: rows without column names are refused (MLflow: model is missing inputs), "
        "since a different column order would silently change predictions; send records "
        "(objects), columns, or dataframe_split with 'columns'",
        field=key,
        rule="missing_columns",
        mlflow_code=INVALID_PARAMETER_VALUE,
    )


def from_json(key: str, value: Any, required: frozenset[str], features: frozenset[str]) -> Table:
    """The table of format ``key``'s ``value``: the values of the columns in
    ``features``, the others by name only; ``required``: features that are not nullable
    (MLflow checks their lengths first). ScoringError as MLflow refuses."""
    if key == "dataframe_split":
        return _split(value, key, features)
    if isinstance(value, list):
        if key == "instances" and value and isinstance(value[0], dict):
            return _instances(value, key, required, features)
        if all(type(r) is dict for r in value):  # no rows: no columns (missing inputs)
            return _records(value, key, features)
        if not any(isinstance(r, dict) or r is None for r in value):
            raise positional_error(key)
        raise ScoringError(f"{key} must hold only records (objects)", field=key)
    if key != "dataframe_records" and isinstance(value, dict):
        return _columns(value, key, required, features)
    kind = "a list of records" + ("" if key == "dataframe_records" else " or an object of columns")
    if key == "dataframe_records" or isinstance(value, str):
        raise ScoringError(f"{key} must be {kind}", field=key)
    raise ScoringError(
        f"{key} must be {kind} (MLflow: model is missing inputs)",
        field=key,
        mlflow_code=INVALID_PARAMETER_VALUE,
    )


def _key_counts(records: list[dict[str, Any]]) -> Counter[str]:
    """How many records hold each key, in order of first appearance."""
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(record.keys())
    return counts


def _records(
    records: list[dict[str, Any]],
    key: str,
    features: frozenset[str],
    names: Counter[str] | None = None,
) -> Table:
    """Objects as columns: every key any of them has, in order of first appearance
    (``names``: ``_key_counts`` of them, if counted already)."""
    names = _key_counts(records) if names is None else names
    columns = {
        name: [r.get(name, ABSENT) for r in records] if name in features else [] for name in names
    }
    return Table(columns, len(records), key)


def _instances(
    records: list[Any], key: str, required: frozenset[str], features: frozenset[str]
) -> Table:
    """``instances`` as objects: MLflow stacks each key's values, which must be as many."""
    if not all(type(r) is dict for r in records):
        raise ScoringError(f"{key} must hold only records (objects)", field=key)
    counts = _key_counts(records)
    short = [name for name, n in counts.items() if n < len(records)]
    if short:
        raise ScoringError(
            f"{key}: the length of values for each input/column name is not the same: "
            f"{_names(short)} left out of some records; send every key in every record",
            field=f"{key}.{short[0]}",
            rule="missing",
            mlflow_code=BAD_REQUEST if required & set(short) else INVALID_PARAMETER_VALUE,
        )
    return _records(records, key, features, counts)


def _columns(
    value: dict[str, Any], key: str, required: frozenset[str], features: frozenset[str]
) -> Table:
    """An object of columns: lists of one length, scalars repeated on every row."""
    lengths = {name: len(v) for name, v in value.items() if isinstance(v, list)}
    if not lengths:
        columns = {name: [v] if name in features else [] for name, v in value.items()}
        return Table(columns, 1 if value else 0, key)
    if len(set(lengths.values())) > 1:
        code = INVALID_PARAMETER_VALUE
        if key == "instances" and len({lengths.get(n) for n in required if n in lengths}) > 1:
            code = BAD_REQUEST  # MLflow checks the required columns' lengths first
        shown = ", ".join(f"{name}: {n}" for name, n in list(lengths.items())[:10])
        raise ScoringError(
            f"{key}: all columns must hold as many values ({shown})",
            field=key,
            rule="length",
            mlflow_code=code,
        )
    n = next(iter(lengths.values()))
    columns = {
        name: [] if name not in features else v if isinstance(v, list) else [v] * n
        for name, v in value.items()
    }
    return Table(columns, n, key)


def _split(value: Any, key: str, features: frozenset[str]) -> Table:
    """pandas' split orient: ``data`` rows under ``columns``, ``index`` labels ignored."""
    if not isinstance(value, dict):
        raise ScoringError(f"{key} must be an object (pandas' split orient)", field=key)
    if "data" not in value or value.keys() - SPLIT_KEYS:
        raise ScoringError(
            f"{key} takes 'data' and optionally 'columns' and 'index', got {_names(value)}",
            field=key,
        )
    data = [] if value["data"] is None else value["data"]
    if not isinstance(data, list):
        raise ScoringError(f"{key}.data must be a list of rows", field=f"{key}.data")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise ScoringError(
            f"{key}.index must hold one label per row of data ({len(data)})",
            field=f"{key}.index",
        )
    names = value.get("columns")
    if names is None and data and all(type(row) is dict for row in data):
        return _records(data, key, features)  # pandas names the columns after the rows' keys
    if names is None:  # pandas numbers the columns: a frame, then missing inputs
        raise positional_error(key)
    _check_names(names, key)
    kept = [i for i, name in enumerate(names) if name in features]
    rows = [_split_row(row, names, kept, key, i) for i, row in enumerate(data)]
    columns: dict[Any, list[Any]] = {name: [] for name in names}
    if rows:  # every row has one value per kept column
        by_column = zip(*rows, strict=True)
        columns.update(zip([names[i] for i in kept], map(list, by_column), strict=True))
    return Table(columns, len(rows), key)


def _check_names(names: Any, key: str) -> None:
    """Column names: a list of strings, numbers or nulls (pandas' unnamed column), each once."""
    field = f"{key}.columns"
    named = (str, int, float, type(None))
    if not isinstance(names, list) or not all(isinstance(n, named) for n in names):
        raise ScoringError(f"{field} must be a list of column names", field=field)
    if len(set(names)) < len(names):  # a repeated column: which one counts would be a guess
        repeats = [(str(c), n) for c, n in Counter(names).items() if n > 1]
        error = duplicate_key_error(repeats, within=field, unit="column")
        error.mlflow_code = INVALID_PARAMETER_VALUE
        raise error


def _split_row(row: Any, names: list[Any], kept: list[int], key: str, i: int) -> list[Any]:
    """The values of the ``kept`` columns in one row of ``data``: a list of as many values
    as columns, or an object read by column name."""
    if isinstance(row, list) and len(row) == len(names):
        return [row[k] for k in kept]
    if isinstance(row, dict):
        return [row.get(names[k], ABSENT) for k in kept]
    raise ScoringError(
        f"{key}.data.{i} must be a list of {len(names)} values (one per column)",
        field=f"{key}.data.{i}",
    )


def _names(names: Any, limit: int = 10) -> str:
    """Some names, for a message (client-chosen: shortened)."""
    shown = [str(name)[:64] for name in list(names)[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{shown}{more}"
