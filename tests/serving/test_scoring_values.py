"""A scoring table's values as encoded rows: MLflow's conversions (numeric strings, NaN as
null, extra columns ignored, a left-out feature column refused), then the contract."""

from __future__ import annotations

import math
from typing import Any

import pytest

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.core.errors import TooManyRowsError
from petalflow.serving.request_models import build_request_models
from petalflow.serving.scoring_tables import ABSENT, ScoringError, Table
from petalflow.serving.scoring_values import rows_of_table

IRIS = build_request_models(
    numeric_contract("iris", ["a", "b"], ["x", "y"], "t", {"gt": 0, "le": 100})
)
BIRDS = build_request_models(
    ModelContract(
        dataset="birds",
        features=[
            {"name": "island", "type": "category", "categories": ["Biscoe", "Dream"]},
            {"name": "mass", "type": "int", "gt": 0, "nullable": True},
            {"name": "sex", "type": "category", "categories": ["f", "m"], "nullable": True},
        ],
        target="t",
        classes=["x", "y"],
    )
)
NAN = math.nan


def _rows(models: Any, columns: dict[Any, list[Any]], rows: int = 1) -> list[list[float]]:
    encoded, _ = rows_of_table(Table(columns, rows, "inputs"), models)
    return [[None if math.isnan(v) else v for v in row] for row in encoded.tolist()]


def _refused(models: Any, columns: dict[Any, list[Any]], rows: int = 1) -> ScoringError:
    with pytest.raises(ScoringError) as caught:
        rows_of_table(Table(columns, rows, "inputs"), models)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    ("text", "number"),
    [("5.1", 5.1), (" 5.1 ", 5.1), ("1e0", 1.0), ("1_0", 10.0), ("+3", 3.0), ("7", 7.0)],
)
def test_rows_of_table_reads_numeric_strings_as_pythons_float(text: str, number: float) -> None:
    assert _rows(IRIS, {"a": [text], "b": [2]}) == [[number, 2.0]]


@pytest.mark.parametrize("text", ["", "abc", "0x10", "5,1", "true", "1..2"])
def test_rows_of_table_refuses_a_string_that_is_no_number_naming_the_column(text: str) -> None:
    error = _refused(IRIS, {"a": [1, 2], "b": [3, text]}, rows=2)
    assert error.mlflow_code == "BAD_REQUEST"
    assert error.details[0]["field"] == "inputs.1.b" and error.details[0]["rule"] == "float_parsing"
    assert error.message == (
        "inputs: failed to convert column b to type 'float64': could not convert string to "
        f"float: {text!r} (row 1)"
    )


def test_rows_of_table_ignores_columns_that_are_not_features_and_names_them() -> None:
    encoded, ignored = rows_of_table(
        Table({"id": [7], "b": [2.0], "a": [1.0], 3: ["z"]}, 1, "csv"), IRIS
    )
    assert encoded.tolist() == [[1.0, 2.0]]
    assert ignored == ("id", "3")


@pytest.mark.parametrize(
    ("models", "columns", "code", "missing"),
    [
        (IRIS, {"a": [1.0]}, "INVALID_PARAMETER_VALUE", ["b"]),
        (IRIS, {0: [1.0], 1: [2.0]}, "INVALID_PARAMETER_VALUE", ["a", "b"]),
        (BIRDS, {"island": ["Dream"], "mass": [3]}, "BAD_REQUEST", ["sex"]),  # nullable only
        (BIRDS, {"mass": [3]}, "INVALID_PARAMETER_VALUE", ["island", "sex"]),
    ],
)
def test_rows_of_table_refuses_a_feature_column_left_out_as_mlflow(
    models: Any, columns: dict[Any, list[Any]], code: str, missing: list[str]
) -> None:
    error = _refused(models, columns)
    assert error.mlflow_code == code
    assert f"Model is missing inputs {missing}" in error.message


def test_rows_of_table_refuses_no_rows_as_bad_request() -> None:
    error = _refused(IRIS, {"a": [], "b": []}, rows=0)
    assert error.mlflow_code == "BAD_REQUEST"
    assert "holds no rows" in error.message


def test_rows_of_table_refuses_no_columns_as_missing_inputs() -> None:
    assert _refused(IRIS, {}, rows=0).mlflow_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (None, "float_type"),  # a null in a feature that is not nullable
        (NAN, "float_type"),  # NaN is a null
        ("nan", "float_type"),
        (ABSENT, "missing"),  # left out of this record
        (True, "float_type"),  # never read as 1.0
        ([1.0], "float_type"),
        (0, "greater_than"),
        (100.5, "less_than_equal"),
        (math.inf, "finite_number"),
        ("inf", "finite_number"),
    ],
)
def test_rows_of_table_applies_the_contract_naming_row_and_field(value: Any, rule: str) -> None:
    error = _refused(IRIS, {"a": [1.0, 2.0], "b": [3.0, value]}, rows=2)
    assert [(d["field"], d["rule"]) for d in error.details] == [("inputs.1.b", rule)]
    assert error.mlflow_code == "BAD_REQUEST"


def test_rows_of_table_reads_nulls_nan_and_gaps_of_nullable_features_as_missing() -> None:
    columns = {
        "island": ["Dream", "Biscoe", "Dream", "Dream"],
        "mass": [None, NAN, "nan", ABSENT],
        "sex": [NAN, None, ABSENT, "m"],
    }
    assert _rows(BIRDS, columns, rows=4) == [
        [1.0, None, None],
        [0.0, None, None],
        [1.0, None, None],
        [1.0, None, 1.0],
    ]


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("island", None, "literal_error"),
        ("island", NAN, "literal_error"),
        ("island", "Mars", "literal_error"),
        ("island", "dream", "literal_error"),
        ("island", 1, "literal_error"),
        ("island", "", "literal_error"),
        ("sex", "nan", "literal_error"),  # the text "nan" is no category (nor a null)
        ("mass", 3.5, "multiple_of"),
        ("mass", "3.5", "multiple_of"),
        ("mass", -1, "greater_than"),
    ],
)
def test_rows_of_table_refuses_what_the_contract_refuses(
    column: str, value: Any, rule: str
) -> None:
    columns: dict[Any, list[Any]] = {"island": ["Dream"], "mass": [3], "sex": ["f"]}
    columns[column] = [value]
    error = _refused(BIRDS, columns)
    assert [(d["field"], d["rule"]) for d in error.details] == [(f"inputs.0.{column}", rule)]


def test_rows_of_table_encodes_categories_as_their_index() -> None:
    columns = {"island": ["Biscoe", "Dream"], "mass": ["3", 4.0], "sex": ["m", "f"]}
    assert _rows(BIRDS, columns, rows=2) == [[0.0, 3.0, 1.0], [1.0, 4.0, 0.0]]


def test_rows_of_table_refuses_more_rows_than_the_limit_before_converting() -> None:
    columns = {"a": ["not a number"] * 6, "b": [1.0] * 6}  # never converted: 413 first
    with pytest.raises(TooManyRowsError) as caught:
        rows_of_table(Table(columns, 6, "csv"), IRIS, max_rows=5)
    assert caught.value.status == 413
    assert "6 rows exceed the limit of 5 (MAX_BATCH_ROWS)" in caught.value.message
