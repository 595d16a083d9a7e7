"""CSV and parquet /invocations bodies, read as `mlflow models serve` reads them.

CSV: UTF-8, a header row, read by pandas with the signature's types (numbers as float64,
categories as text), so a value pandas cannot read as a number is a 400, and a gap is a
null. Deliberate differences: when every row has one field more than the header,
pandas takes the first field as the row index and shifts the others one column left;
MLflow scores the shifted rows, petalflow refuses them. A column name the header repeats
is refused too (pandas renames the repeat ``name.1``, which MLflow ignores). And pandas
reads ``True`` and ``False`` (any of its spellings) in a number column as 1.0 and 0.0,
which MLflow scores; petalflow keeps them as booleans, which the contract refuses for a
float or int feature as it refuses JSON's ``true`` (and takes for a bool feature).

Parquet (needs pyarrow, as MLflow does): the feature columns read by pyarrow into pandas
(the others named only), and each feature column's type
checked as MLflow's schema enforcement checks it: a number column may be float, or an
integer of at most 32 bits (64-bit integers only if every value is 0 or 1), or objects
(nulls, say) whose values are numbers; a category column holds text.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from petalflow.core.contract import FALSE_TOKENS, TRUE_TOKENS, FeatureSpec
from petalflow.core.errors import ClientError, TooManyRowsError
from petalflow.serving.duplicate_keys import duplicate_key_error
from petalflow.serving.scoring_tables import INVALID_PARAMETER_VALUE, ScoringError, Table

_PARSE = (
    "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
    "{kind} Pandas DataFrame produced using the `pandas.DataFrame.{writer}()` method"
)
# the spellings pandas' CSV reader takes as booleans (then 1.0 and 0.0 in a float column)
_BOOLEANS = {
    **dict.fromkeys(("True", "TRUE", "true"), True),
    **dict.fromkeys(("False", "FALSE", "false"), False),
}
# a whole field (quoted or not) spelling one: "untrue" or "false_positive" is no boolean
_MAY_HOLD_BOOLEANS = re.compile(rf'(?m)(?:^|,)"?(?:{"|".join(_BOOLEANS)})"?(?=,|\r?$)')
# how pandas renames a repeated column: name.1, name.2 (a quoted name may hold a newline)
_RENAMED = re.compile(r".+\.[0-9]+", re.S)


def csv_table(body: bytes, specs: tuple[FeatureSpec, ...]) -> Table:
    """The table of a CSV body (header row first); ScoringError as MLflow refuses it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"the CSV body is not valid UTF-8: {exc.reason} at byte {exc.start}"
        raise ScoringError(message) from None
    # A bool feature is read as text, then as the training CSV's tokens (below).
    numbers = [spec.name for spec in specs if spec.numeric and spec.type != "bool"]
    # a body without any spelling of a boolean (the usual one) is read once
    booleans = _boolean_columns(text, numbers) if _MAY_HOLD_BOOLEANS.search(text) else set()
    dtypes: dict[str, Any] = {s.name: object for s in specs}
    dtypes.update(dict.fromkeys(numbers, "float64"))
    dtypes.update(dict.fromkeys(booleans, object))  # as text: booleans, numbers to convert
    frame = _read_csv(text, dtypes)
    if not isinstance(frame.index, pd.RangeIndex):
        raise ScoringError(
            "every CSV row has one field more than the header: pandas would read the first "
            "as the row index and shift the others one column; send one field per column",
            rule="csv_fields",
        )
    if any(_RENAMED.fullmatch(str(name)) for name in frame.columns):
        _check_unique_header(text)  # only then: the usual header is read once
    table = _frame_table(frame, specs, "csv")
    for name in booleans:
        values = table.columns[name]
        table.columns[name] = [_BOOLEANS.get(v, v) if type(v) is str else v for v in values]
    for spec in specs:  # a bool feature's cells as the training CSV's: "yes", "0", ...
        if spec.type == "bool" and spec.name in table.columns:
            table.columns[spec.name] = [_csv_bool(v) for v in table.columns[spec.name]]
    return table


def _csv_bool(value: Any) -> Any:
    """A CSV cell of a bool feature as training reads it; anything else as it is (the
    contract refuses it, naming the field and row)."""
    if type(value) is not str:
        return value
    token = value.strip().lower()
    return True if token in TRUE_TOKENS else False if token in FALSE_TOKENS else value


def _read_csv(text: str, dtypes: dict[str, Any] | type[object]) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtypes)
    except Exception as exc:  # pandas' parse errors name the line, never a server path
        message = f"{_PARSE.format(kind='CSV-formatted', writer='to_csv')}: {_short(exc)}"
        cell = _first_text_in_numbers(text, dtypes) if isinstance(dtypes, dict) else None
        if cell is None:
            raise ScoringError(message) from None
        row, name, value = cell  # pandas names neither: read as text, find it
        raise ScoringError(
            f"{message} (column {name!r}, row {row}: {value[:64]!r})",
            field=f"csv.{row}.{name}",
            rule="float_parsing",
        ) from None


def _first_text_in_numbers(text: str, dtypes: dict[str, Any]) -> tuple[int, str, str] | None:
    """The first cell of a number column that is not a number: (row, column, cell)."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=object)
    except Exception:  # not a parse of the cells' types that failed
        return None
    for name in (n for n, kind in dtypes.items() if kind == "float64" and n in frame.columns):
        for row, value in enumerate(frame[name].tolist()):
            if isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    return row, name, value
    return None


def _check_unique_header(text: str) -> None:
    """DuplicateKeyError (400) if the header line names a column twice. Read from the line
    itself: pandas' renamed repeat (``name.1``) cannot be told from a column so named."""
    header = pd.read_csv(io.StringIO(text), header=None, nrows=1, dtype=str, na_filter=False)
    # an empty name is no name: pandas numbers such columns ("Unnamed: 0"), never merges them
    counts = Counter(name for name in header.iloc[0] if name)
    repeats = [(name[:64], n) for name, n in counts.items() if n > 1]
    if repeats:
        error = duplicate_key_error(repeats, unit="column", place="the CSV header")
        error.mlflow_code = INVALID_PARAMETER_VALUE  # as for dataframe_split's columns
        raise error


def _boolean_columns(text: str, numbers: list[str]) -> set[str]:
    """The number features whose column holds a boolean as pandas spells it: read as text,
    since a float64 read turns an all-boolean column into 1.0 and 0.0, and fails on a
    column that mixes booleans and numbers, naming neither the column nor the row."""
    raw = _read_csv(text, object)
    spellings = list(_BOOLEANS)
    return {name for name in numbers if name in raw and raw[name].isin(spellings).any()}


CELL_BYTES = 256  # decoded bytes a parquet body's feature cell may take on average


def parquet_table(
    body: bytes, specs: tuple[FeatureSpec, ...], max_rows: int | None = None
) -> Table:
    """The table of a parquet body; ScoringError as MLflow refuses it (types included).

    Only the feature columns are decoded (text as a dictionary of its distinct values),
    never the others nor a stored index: a few compressed kilobytes must not become
    megabytes. Before any decoding, from the file's metadata: more rows than ``max_rows``
    are refused (413), as are feature columns that would decode to more than
    ``CELL_BYTES`` a cell, and text in a number column (400).
    """
    try:
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(io.BytesIO(body)).schema_arrow
        names = _parquet_columns(schema)
        if len(set(names)) < len(names):
            raise ScoringError(
                "parquet: a column name appears twice; send each column once",
                rule="duplicate_key",
                mlflow_code=INVALID_PARAMETER_VALUE,
            )
        wanted = [spec.name for spec in specs if spec.name in names]
        text = [n for n in wanted if _is_text(schema.field(n).type)]
        source = pq.ParquetFile(io.BytesIO(body), read_dictionary=text)
        _check_before_decoding(source, specs, wanted, text, max_rows)
        frame = source.read(columns=wanted, use_pandas_metadata=False).to_pandas()
    except ClientError:  # said already: too many rows or bytes, a type, a repeated name
        raise
    except Exception as exc:  # pyarrow's errors describe the bytes, never a server path
        kind = {"kind": "Parquet", "writer": "to_parquet"}
        raise ScoringError(f"{_PARSE.format(**kind)}: {_short(exc)}") from None
    for spec in specs:
        if spec.name in frame.columns:
            _check_type(frame[spec.name], spec)
    return _frame_table(frame, specs, "parquet", names)


def _parquet_columns(schema: Any) -> list[str]:
    """A parquet file's column names, without the index pandas stored as columns."""
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    stored = {name for name in index if isinstance(name, str)}  # a RangeIndex is no column
    return [name for name in schema.names if name not in stored]


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _check_before_decoding(
    source: Any,
    specs: tuple[FeatureSpec, ...],
    wanted: list[str],
    text: list[str],
    max_rows: int | None,
) -> None:
    """413 for too many rows or too many decoded bytes, 400 for text in a number column:
    from the metadata, before the columns are decoded."""
    rows = source.metadata.num_rows
    if max_rows is not None and rows > max_rows:
        raise TooManyRowsError("rows", rows, max_rows)
    for spec in specs:
        if spec.numeric and spec.name in text:
            _refuse_type(spec, "str")
    limit = (rows if max_rows is None else max_rows) * max(len(wanted), 1) * CELL_BYTES
    meta = source.metadata
    size = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema in wanted
    )
    if size > limit:
        raise ClientError(
            f"parquet: the feature columns decode to {size} bytes, more than {CELL_BYTES} "
            f"bytes a cell ({limit} bytes); send fewer rows, or shorter values",
            status=413,
            code="payload_too_large",
        )


def _check_type(column: pd.Series, spec: FeatureSpec) -> None:
    """MLflow's rule for a column of the signature's type (double, or string)."""
    dtype = column.dtype
    text = isinstance(dtype, pd.StringDtype)
    if not spec.numeric:
        fits = text or dtype.kind == "O"
    elif dtype.kind in "iu":  # safe up to 6 bytes; wider only for 0/1 (MLflow's rule)
        fits = getattr(dtype, "itemsize", 8) <= 6 or bool(column.isin([0, 1]).all())
    else:  # objects (all null, say) are read as numbers by MLflow: values decide
        fits = dtype.kind == "f" or (dtype.kind == "O" and not text)
    if not fits:
        _refuse_type(spec, str(dtype))


def _refuse_type(spec: FeatureSpec, dtype: str) -> None:
    wanted = "double" if spec.numeric else "string"
    raise ScoringError(
        f"Incompatible input types for column {spec.name}: can not safely convert "
        f"{dtype} to {wanted}",
        field=spec.name,
        rule="type",
        mlflow_code=INVALID_PARAMETER_VALUE,
    )


def _frame_table(
    frame: pd.DataFrame,
    specs: tuple[FeatureSpec, ...],
    source: str,
    names: list[str] | None = None,
) -> Table:
    """The columns ``names`` (default: the frame's): the features' values as Python
    objects, others by name only."""
    features = {spec.name for spec in specs}
    columns: dict[Any, list[Any]] = {
        name: _values(frame[name]) if name in features else []
        for name in (frame.columns if names is None else names)
    }
    return Table(columns, len(frame), source)


def _values(column: pd.Series) -> list[Any]:
    if column.dtype.kind in "iuf":
        return column.to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    return column.astype(object).where(column.notna(), None).tolist()  # NaN, NA: null


def _short(exc: Exception) -> str:
    return str(exc).replace("\n", " ")[:300]
