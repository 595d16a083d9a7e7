"""The Iris cases: a model whose signature is four required doubles (see mlflow_cases)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.datasets import load_iris

from tests.e2e.mlflow_cases import (
    CSV,
    ENFORCEMENT,
    JSON,
    PARQUET,
    SERVER,
    SOURCE,
    Case,
    csv_of,
    health_cases,
    malformed_cases,
    media_cases,
    parquet_of,
)

F = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
R1, R2, R3 = [5.1, 3.5, 1.4, 0.2], [6.3, 2.9, 5.6, 1.8], [5.9, 3.0, 4.2, 1.5]
ROWS = [R1, R2, R3]
INTS = [[5, 3, 1, 1], [7, 3, 6, 2]]
RECORDS = [dict(zip(F, row, strict=True)) for row in ROWS]
COLUMNS = {f: [row[j] for row in ROWS] for j, f in enumerate(F)}
SPLIT = {"columns": F, "data": ROWS}
RECORDS_ORIENT = (
    f"{SERVER}successfully_evaluates_correct_dataframes_with_pandas_records_orientation"
)
SPLIT_ORIENT = f"{SERVER}successfully_evaluates_correct_dataframes_with_pandas_split_orientation"
KERAS = f"{SERVER}successfully_evaluates_correct_tf_serving_keras_"
TO_DF = "scoring_server::test_records_oriented_json_to_df"
SCHEMA = "scoring_server::test_parse_with_schema"
LLM = "source: mlflow/pyfunc/utils/serving_data_parser.py (is_unified_llm_input)"


def _with(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**record, **changes}


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def _all_iris_rows() -> dict[str, Any]:
    frame = pd.DataFrame(load_iris().data, columns=F)
    return {"dataframe_split": frame.to_dict(orient="split")}  # what MLflow's client sends


def format_cases() -> list[Case]:
    """Every format, as MLflow's tests and docs send it."""
    frame = pd.DataFrame(ROWS, columns=F)
    return [
        Case("split-orient", SPLIT_ORIENT, {"dataframe_split": frame.to_dict(orient="split")}),
        Case(
            "split",
            "scoring_server::test_parse_json_input_split_oriented",
            {"dataframe_split": SPLIT},
        ),
        Case("split-charset", SPLIT_ORIENT, {"dataframe_split": SPLIT}, JSON + "; charset=UTF-8"),
        Case(
            "split-reordered",
            ENFORCEMENT,
            {"dataframe_split": {"columns": F[::-1], "data": [r[::-1] for r in ROWS]}},
        ),
        Case("split-150-rows", "scoring_server::test_scoring_server_client", _all_iris_rows()),
        Case("split-rows-as-objects", SOURCE, {"dataframe_split": {"columns": F, "data": RECORDS}}),
        Case("records", RECORDS_ORIENT, {"dataframe_records": RECORDS}),
        Case(
            "records-reordered",
            "scoring_server::test_parse_json_input_records_oriented",
            {"dataframe_records": [dict(reversed(r.items())) for r in RECORDS]},
        ),
        Case("instances-records", f"{KERAS}instances", {"instances": RECORDS}),
        Case("instances-columns", SOURCE, {"instances": COLUMNS}),
        Case("instances-one-object", SOURCE, {"instances": RECORDS[0]}),
        Case(
            "inputs-records", "scoring_server::test_serving_model_with_schema", {"inputs": RECORDS}
        ),
        Case("inputs-columns", f"{KERAS}inputs", {"inputs": COLUMNS}),
        Case("inputs-scalars", "issue", {"inputs": RECORDS[0]}),
        Case("inputs-scalar-repeated", "docs", {"inputs": {**COLUMNS, "sepal_width": 3.1}}),
    ]


def conversion_cases() -> list[Case]:
    """Integers for doubles (the README's old false claim) and numeric strings."""
    int_records = [dict(zip(F, row, strict=True)) for row in INTS]
    text = _with(RECORDS[0], sepal_length="5.1", petal_width="0.2")
    return [
        Case("ints-split", SCHEMA, {"dataframe_split": {"columns": F, "data": INTS}}),
        Case("ints-records", SCHEMA, {"dataframe_records": int_records}),
        Case("ints-instances", "issue", {"instances": int_records}),
        Case("ints-inputs", "issue", {"inputs": {f: [r[f] for r in int_records] for f in F}}),
        Case("strings-records", TO_DF, {"dataframe_records": [text, RECORDS[1]]}),
        Case(
            "strings-split",
            "scoring_server::test_split_oriented_json_to_df",
            {"dataframe_split": {"columns": F, "data": [["5.1", "3.5", "1.4", "0.2"]]}},
        ),
        Case("strings-instances", "issue", {"instances": [text]}),
        Case(
            "strings-inputs-columns",
            "issue",
            {"inputs": {f: [str(v)] for f, v in RECORDS[0].items()}},
        ),
        Case(
            "strings-padded-and-exponent",
            SCHEMA,
            {"dataframe_records": [_with(RECORDS[0], sepal_length=" 5.1 ", petal_length="1.4e0")]},
        ),
        Case(
            "string-not-a-number",
            SCHEMA,
            {"dataframe_records": [_with(RECORDS[0], sepal_length="abc")]},
        ),
        Case("empty-string", SCHEMA, {"instances": [_with(RECORDS[0], sepal_length="")]}),
        Case(
            "list-value",
            ENFORCEMENT,
            {"dataframe_records": [_with(RECORDS[0], sepal_length=[5.1])]},
        ),
        Case(
            "infinity",
            SOURCE,
            b'{"dataframe_records": [{"sepal_length": Infinity, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}',
        ),
    ]


def column_cases() -> list[Case]:
    """Extra columns and keys (ignored), missing ones and rows without names (refused)."""
    extra = _with(RECORDS[0], id=7)
    return [
        Case(
            "extra-column-split",
            ENFORCEMENT,
            {"dataframe_split": {"columns": [*F, "id"], "data": [[*R1, 7], [*R2, 8]]}},
        ),
        Case("extra-key-records", ENFORCEMENT, {"dataframe_records": [extra, RECORDS[1]]}),
        Case("extra-key-instances", "issue", {"instances": [extra]}),
        Case("extra-column-inputs", "issue", {"inputs": {**COLUMNS, "id": [1, 2, 3]}}),
        Case("extra-top-level-key", "issue", {"dataframe_records": RECORDS, "request": "abc"}),
        Case(
            "signature-name-key",
            SOURCE,
            {"instances": RECORDS, "signature_name": "serving_default"},
        ),
        Case(
            "unknown-params",
            "scoring_server::test_serving_model_with_param_schema",
            {"dataframe_split": SPLIT, "params": {"invalid_param": "value"}},
        ),
        Case("null-params", SOURCE, {"dataframe_records": RECORDS, "params": None}),
        Case("llm-messages", LLM, {"messages": [{"role": "user", "content": "5.1, 3.5"}]}),
        Case("records-and-llm-prompt", LLM, {"dataframe_records": RECORDS, "prompt": "x"}),
        Case(
            "missing-column-split",
            ENFORCEMENT,
            {"dataframe_split": {"columns": F[:3], "data": [r[:3] for r in ROWS]}},
        ),
        Case(
            "missing-key-records",
            ENFORCEMENT,
            {"dataframe_records": [_without(r, "petal_width") for r in RECORDS]},
        ),
        Case(
            "missing-key-instances",
            ENFORCEMENT,
            {"instances": [_without(RECORDS[0], "sepal_width")]},
        ),
        Case(
            "missing-column-inputs",
            ENFORCEMENT,
            {"inputs": {f: v for f, v in COLUMNS.items() if f != "petal_length"}},
        ),
        Case(
            "instances-key-left-out-of-one",
            SOURCE,
            {"instances": [RECORDS[0], _without(RECORDS[1], "petal_width")]},
        ),
        Case(
            "instances-rows",
            f"{SERVER}successfully_evaluates_correct_tf_serving_sklearn",
            {"instances": ROWS},
        ),
        Case("inputs-rows", "issue", {"inputs": ROWS}),
        Case(
            "split-without-columns",
            f"{SERVER}responds_to_incompatible_inference_dataframe_with_stacktrace_and_error_code",
            {"dataframe_split": {"data": ROWS}},
        ),
        Case("records-as-lists", "issue", {"dataframe_records": ROWS}),
        Case(
            "repeated-split-column",
            ENFORCEMENT,
            {"dataframe_split": {"columns": [*F, "sepal_length"], "data": [[*R1, 9.9]]}},
        ),
        Case("inputs-uneven-columns", SOURCE, {"inputs": {**COLUMNS, "sepal_width": [3.5]}}),
    ]


def shape_cases() -> list[Case]:
    """Payloads whose shape pandas (or MLflow) cannot read, and empty ones."""
    pandas_format = (
        f"{SERVER}responds_to_invalid_pandas_input_format_with_stacktrace_and_error_code"
    )
    return [
        Case("split-given-records", pandas_format, {"dataframe_split": RECORDS}),
        Case("records-given-split", pandas_format, {"dataframe_records": SPLIT}),
        Case(
            "split-index-mismatch",
            f"{SERVER}responds_to_invalid_dataframe_with_stacktrace_and_error_code",
            {"dataframe_split": {"index": [1, 2], "data": [[1], [2], [3]]}},
        ),
        Case("split-extra-key", SOURCE, {"dataframe_split": {**SPLIT, "foo": 1}}),
        Case("split-ragged-row", SOURCE, {"dataframe_split": {"columns": F, "data": [R1[:3]]}}),
        Case("split-no-rows", SOURCE, {"dataframe_split": {"columns": F, "data": []}}),
        Case("records-no-rows", SOURCE, {"dataframe_records": []}),
        Case("instances-no-rows", SOURCE, {"instances": []}),
        Case("inputs-no-rows", SOURCE, {"inputs": []}),
    ]


def file_cases() -> list[Case]:
    """CSV and parquet bodies."""
    header = ",".join(F).encode()
    frame = pd.DataFrame(ROWS, columns=F)
    return [
        Case("csv", "scoring_server::test_parse_with_schema_csv", csv_of(ROWS, F), CSV),
        Case("csv-charset", SOURCE, csv_of(ROWS, F), CSV + "; charset=utf-8"),
        Case("csv-index-column", "issue", csv_of(ROWS, F, index=True), CSV),
        Case("csv-extra-column", "issue", csv_of([[*R1, 7]], [*F, "id"]), CSV),
        Case("csv-reordered", ENFORCEMENT, csv_of([R1[::-1]], F[::-1]), CSV),
        Case("csv-ints", SCHEMA, csv_of(INTS, F), CSV),
        Case("csv-missing-column", ENFORCEMENT, csv_of([R1[:3]], F[:3]), CSV),
        Case(
            "csv-empty",
            f"{SERVER}responds_to_invalid_csv_input_with_stacktrace_and_error_code",
            b"",
            CSV,
        ),
        Case("csv-header-only", SOURCE, header + b"\n", CSV),
        Case("csv-not-a-number", SOURCE, header + b"\nabc,3.5,1.4,0.2\n", CSV),
        Case("csv-no-header", SOURCE, b"5.1,3.5,1.4,0.2\n", CSV),
        Case("csv-latin1", SOURCE, csv_of(ROWS, F), CSV + "; charset=latin-1"),
        Case("parquet", SOURCE, parquet_of(frame), PARQUET),
        Case("parquet-extra-column", "issue", parquet_of(frame.assign(id=[1, 2, 3])), PARQUET),
        Case(
            "parquet-int64",
            "schema_enforcement::test_column_schema_enforcement (long -> double)",
            parquet_of(pd.DataFrame(INTS, columns=F)),
            PARQUET,
        ),
        Case("parquet-not-parquet", SOURCE, b"not parquet", PARQUET),
    ]


def difference_cases() -> list[Case]:
    """The README table's differences, on Iris."""
    good = RECORDS[0]
    duplicate = b'{"dataframe_records": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2, "petal_width": 2.5}]}'
    big_rows = {"dataframe_split": {"columns": F, "data": [R3] * 10_001}}
    return [
        Case(
            "over-100-cm",
            "issue",
            {"dataframe_records": [_with(good, sepal_length=1000.0)]},
            differs="bounds",
        ),
        Case(
            "zero-cm",
            "issue",
            {"dataframe_records": [_with(good, petal_width=0)]},
            differs="bounds",
        ),
        Case(
            "negative-cm",
            "issue",
            {"inputs": {**COLUMNS, "petal_width": [-0.2, 1.8, 1.5]}},
            differs="bounds",
        ),
        Case(
            "boolean-records",
            "issue",
            {"dataframe_records": [_with(good, sepal_length=True)]},
            differs="booleans",
        ),
        Case(
            "boolean-inputs",
            "issue",
            {"inputs": {**COLUMNS, "sepal_width": [False, True, True]}},
            differs="booleans",
        ),
        Case(
            "boolean-csv",
            "issue",
            b",".join(f.encode() for f in F) + b"\n6.0,3.0,4.5,True\n",
            CSV,
            differs="booleans",
        ),
        Case(
            "null-records",
            SCHEMA,
            {"dataframe_records": [_with(good, sepal_length=None)]},
            differs="nulls",
        ),
        Case(
            "nan-literal",
            SOURCE,
            b'{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[NaN, 3.5, 1.4, 0.2]]}}',
            differs="nulls",
        ),
        Case(
            "nan-string", SCHEMA, {"instances": [_with(good, petal_length="nan")]}, differs="nulls"
        ),
        Case(
            "key-left-out-of-one-record",
            ENFORCEMENT,
            {"dataframe_records": [good, _without(RECORDS[1], "petal_width")]},
            differs="nulls",
        ),
        Case(
            "csv-gap",
            SOURCE,
            b",".join(f.encode() for f in F) + b"\n,3.5,1.4,0.2\n",
            CSV,
            differs="nulls",
        ),
        Case("repeated-key", "issue", duplicate, differs="duplicate_keys"),
        Case(
            "csv-repeated-column",
            "issue",
            b",".join(f.encode() for f in [*F, "petal_length"]) + b"\n5.1,3.5,1.4,0.2,6.0\n",
            CSV,
            differs="duplicate_keys",
        ),
        Case(
            "csv-extra-field",
            SOURCE,
            b",".join(f.encode() for f in F) + b"\n5.1,3.5,1.4,0.2,9\n",
            CSV,
            differs="csv_shift",
        ),
        Case(
            "split-index-longer",
            SOURCE,
            {"dataframe_split": {"index": [1, 2], "columns": F, "data": [R1]}},
            differs="split_index",
        ),
        Case(
            "body-over-1-mib",
            "issue",
            {"dataframe_records": [good], "padding": "x" * (1 << 20)},
            differs="body_limit",
        ),
        Case("rows-over-10000", "issue", big_rows, differs="row_limit"),
        Case("csv-rows-over-10000", "issue", csv_of([R3] * 10_001, F), CSV, differs="row_limit"),
    ]


def iris_cases() -> list[Case]:
    """Every Iris case."""
    return [
        *health_cases(),
        *media_cases(RECORDS[0]),
        *malformed_cases(),
        *format_cases(),
        *conversion_cases(),
        *column_cases(),
        *shape_cases(),
        *file_cases(),
        *difference_cases(),
    ]
