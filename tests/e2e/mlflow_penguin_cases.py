"""The penguins cases: a contract model with categories (``island`` required, ``sex``
nullable) and nullable measurements; MLflow's signature: island a required string, the
measurements optional doubles, sex an optional string (see mlflow_cases)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tests.e2e.mlflow_cases import (
    CSV,
    ENFORCEMENT,
    PARQUET,
    SOURCE,
    Case,
    csv_of,
    parquet_of,
)

P = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
ROWS = [
    ["Torgersen", 39.1, 18.7, 181, 3750, "male"],
    ["Torgersen", None, None, None, None, None],
    ["Biscoe", 45.2, 14.8, 212, 5200, None],
    ["Dream", 49.5, 19.0, 200, 3800, "male"],
]
RECORDS = [dict(zip(P, row, strict=True)) for row in ROWS]
GOOD = RECORDS[0]
OPTIONAL = "scoring_server::test_serving_model_with_schema (optional columns)"
SCHEMA = "scoring_server::test_parse_with_schema"


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def _floats(rows: list[list[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=P)
    frame[P[1:5]] = frame[P[1:5]].astype("float64")
    return frame


def table_case(rows: list[dict[str, Any]]) -> Case:
    """The whole table (the contract's verification rows) as MLflow's client sends it."""
    return Case(
        "whole-table", "scoring_server::test_scoring_server_client", {"dataframe_records": rows}
    )


def agreeing_cases() -> list[Case]:
    """Formats, nulls, conversions, extra and missing columns: both answer alike."""
    columns = {name: [row[j] for row in ROWS] for j, name in enumerate(P)}
    return [
        Case("records", ENFORCEMENT, {"dataframe_records": RECORDS}),
        Case("split", ENFORCEMENT, {"dataframe_split": {"columns": P, "data": ROWS}}),
        Case("split-orient", SOURCE, {"dataframe_split": _floats(ROWS).to_dict(orient="split")}),
        Case("instances-records", SOURCE, {"instances": RECORDS}),
        Case("inputs-columns", SOURCE, {"inputs": columns}),
        Case("inputs-scalars", "issue", {"inputs": _with(sex=None)}),
        Case("all-measurements-null", OPTIONAL, {"dataframe_records": [RECORDS[1]]}),
        Case(
            "nan-literal-nullable",
            SOURCE,
            b'{"dataframe_records": [{"island": "Dream", "bill_length_mm": NaN, "bill_depth_mm": 18.0, "flipper_length_mm": 190, "body_mass_g": 3500, "sex": "female"}]}',
        ),
        Case(
            "nan-string-nullable",
            SCHEMA,
            {
                "dataframe_split": {
                    "columns": P,
                    "data": [["Dream", "nan", 18.0, 190, 3500, "female"]],
                }
            },
        ),
        Case(
            "nullable-key-left-out-of-one",
            OPTIONAL,
            {"dataframe_records": [GOOD, _without(RECORDS[2], "sex")]},
        ),
        Case(
            "numeric-strings",
            "scoring_server::test_records_oriented_json_to_df",
            {"dataframe_records": [_with(body_mass_g="3750", bill_depth_mm="18.7")]},
        ),
        Case("extra-column", ENFORCEMENT, {"dataframe_records": [_with(year=2007, id="N1A1")]}),
        Case(
            "nullable-column-left-out",
            OPTIONAL,
            {"dataframe_records": [_without(r, "sex") for r in RECORDS]},
        ),
        Case(
            "measurement-column-left-out",
            OPTIONAL,
            {"inputs": {k: v for k, v in columns.items() if k != "body_mass_g"}},
        ),
        Case(
            "required-column-left-out",
            ENFORCEMENT,
            {"dataframe_records": [_without(GOOD, "island")]},
        ),
        Case(
            "instances-nullable-key-left-out-of-one",
            SOURCE,
            {"instances": [GOOD, _without(RECORDS[3], "sex")]},
        ),
        Case("positional-rows", "issue", {"instances": ROWS}),
        Case("csv", "scoring_server::test_parse_with_schema_csv", csv_of(ROWS, P), CSV),
        Case(
            "csv-gaps",
            SOURCE,
            b"island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\nTorgersen,,18.7,181,3750,\n",
            CSV,
        ),
        Case("csv-nullable-column-left-out", OPTIONAL, csv_of([r[:5] for r in ROWS], P[:5]), CSV),
        Case("parquet-floats", SOURCE, parquet_of(_floats(ROWS)), PARQUET),
        Case(
            "parquet-int64-measurements",
            ENFORCEMENT,
            parquet_of(pd.DataFrame([ROWS[0], ROWS[3]], columns=P)),
            PARQUET,
        ),
    ]


def difference_cases() -> list[Case]:
    """The README table's differences, on a contract model."""
    return [
        Case(
            "unknown-island",
            "issue",
            {"dataframe_records": [_with(island="Atlantis")]},
            differs="categories",
        ),
        Case(
            "island-other-case",
            "issue",
            {"dataframe_records": [_with(island="dream")]},
            differs="categories",
        ),
        Case(
            "island-as-number",
            SCHEMA,
            {"dataframe_records": [_with(island=1)]},
            differs="categories",
        ),
        Case("empty-island", SCHEMA, {"instances": [_with(island="")]}, differs="categories"),
        Case(
            "csv-unknown-island",
            SOURCE,
            csv_of([["Atlantis", *ROWS[0][1:]]], P),
            CSV,
            differs="categories",
        ),
        Case(
            "fractional-flipper",
            "issue",
            {"dataframe_records": [_with(flipper_length_mm=181.5)]},
            differs="whole",
        ),
        Case(
            "negative-mass",
            "issue",
            {"dataframe_records": [_with(body_mass_g=-3750)]},
            differs="bounds",
        ),
        Case(
            "null-island",
            "issue",
            {"dataframe_split": {"columns": P, "data": [[None, *ROWS[0][1:]]]}},
            differs="nulls",
        ),
        Case(
            "island-left-out-of-one",
            ENFORCEMENT,
            {"dataframe_records": [GOOD, _without(RECORDS[2], "island")]},
            differs="nulls",
        ),
        Case(
            "csv-island-gap",
            SOURCE,
            b"island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n,39.1,18.7,181,3750,male\n",
            CSV,
            differs="nulls",
        ),
        Case(
            "boolean-measurement",
            "issue",
            {"dataframe_records": [_with(bill_depth_mm=True)]},
            differs="booleans",
        ),
    ]


def penguin_cases() -> list[Case]:
    """Every penguins case but the whole table (which needs the trained contract)."""
    return [*agreeing_cases(), *difference_cases()]
