"""MLflow's JSON formats as tables: what `mlflow models serve` builds before its signature
check, and the refusals (400 and MLflow's error_code) it makes while building it.

The expected tables are written out by hand, as pandas would build the DataFrame
(columns in order of first appearance, a gap where a record left a key out).
"""

from __future__ import annotations

from typing import Any

import pytest

from petalflow.serving.duplicate_keys import DuplicateKeyError
from petalflow.serving.scoring_tables import ABSENT, ScoringError, Table, from_json

REQUIRED = frozenset({"a", "b"})
FEATURES = REQUIRED | {"c"}  # c: a nullable feature


def _table(key: str, value: Any) -> Table:
    return from_json(key, value, REQUIRED, FEATURES)


def _refused(key: str, value: Any) -> ScoringError:
    with pytest.raises(ScoringError) as caught:
        _table(key, value)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    ("key", "value", "columns", "rows"),
    [
        pytest.param(
            "dataframe_split",
            {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]},
            {"a": [1, 3], "b": [2, 4]},
            2,
            id="split",
        ),
        pytest.param(
            "dataframe_split",
            {"index": [5, 6], "columns": ["b", "a"], "data": [[1, 2], [3, 4]]},
            {"b": [1, 3], "a": [2, 4]},
            2,
            id="split-index-reordered",
        ),
        pytest.param(
            "dataframe_split",
            {"columns": ["a", "b"], "data": [{"b": 2, "a": 1, "x": 9}, {"a": 3}]},
            {"a": [1, 3], "b": [2, ABSENT]},
            2,
            id="split-rows-as-objects",
        ),
        pytest.param(
            "dataframe_split",
            {"data": [{"b": 2, "a": 1}, {"a": 3}]},
            {"b": [2, ABSENT], "a": [1, 3]},
            2,
            id="split-objects-no-columns",
        ),
        pytest.param(
            "dataframe_split",
            {"columns": ["a", "b"], "data": None},
            {"a": [], "b": []},
            0,
            id="split-no-data",
        ),
        pytest.param(
            "dataframe_records",
            [{"a": 1, "b": 2}, {"b": 4, "c": 5}],
            {"a": [1, ABSENT], "b": [2, 4], "c": [ABSENT, 5]},
            2,
            id="records-gaps",
        ),
        pytest.param("dataframe_records", [], {}, 0, id="records-empty"),
        pytest.param(
            "inputs",
            [{"a": 1}, {"a": 2, "b": 3}],
            {"a": [1, 2], "b": [ABSENT, 3]},
            2,
            id="inputs-records-gaps",
        ),
        pytest.param(
            "instances",
            [{"a": 1, "b": 2}, {"b": 4, "a": 3}],
            {"a": [1, 3], "b": [2, 4]},
            2,
            id="instances-records",
        ),
        pytest.param(
            "inputs", {"a": [1, 2], "b": [3, 4]}, {"a": [1, 2], "b": [3, 4]}, 2, id="inputs-columns"
        ),
        pytest.param("inputs", {"a": 1, "b": "x"}, {"a": [1], "b": ["x"]}, 1, id="inputs-scalars"),
        pytest.param(
            "instances",
            {"a": [1, 2], "b": 7},
            {"a": [1, 2], "b": [7, 7]},
            2,
            id="instances-scalar-repeated",
        ),
        pytest.param("inputs", {}, {}, 0, id="inputs-no-columns"),
    ],
)
def test_from_json_builds_the_frame_mlflow_builds(
    key: str, value: Any, columns: dict[str, list[Any]], rows: int
) -> None:
    table = _table(key, value)
    assert table.columns == columns
    assert list(table.columns) == list(columns)  # pandas' column order
    assert table.rows == rows
    assert table.source == key


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dataframe_split", {"data": [[1, 2]]}),
        ("dataframe_split", {"columns": None, "data": [[1, 2]]}),
        ("dataframe_split", {"data": [[1, 2], [3]]}),  # pandas pads, then numbers the columns
        ("dataframe_records", [[1, 2], [3, 4]]),
        ("dataframe_records", [1, 2]),
        ("instances", [[1, 2], [3, 4]]),
        ("instances", [1, 2]),
        ("inputs", [[1, 2]]),
        ("inputs", 5),
        ("instances", None),
    ],
)
def test_from_json_refuses_rows_without_column_names_as_mlflow(key: str, value: Any) -> None:
    error = _refused(key, value)
    assert error.mlflow_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("dataframe_split", [{"a": 1}], "must be an object"),
        ("dataframe_split", {"columns": ["a"], "data": [[1]], "foo": 1}, "'data' and optionally"),
        ("dataframe_split", {"columns": ["a"]}, "'data' and optionally"),
        ("dataframe_split", {"columns": "a", "data": [[1]]}, "list of column names"),
        ("dataframe_split", {"columns": ["a", "b"], "data": 5}, "list of rows"),
        ("dataframe_split", {"columns": ["a", "b"], "data": [[1]]}, "list of 2 values"),
        ("dataframe_split", {"columns": ["a", "b"], "data": [1, 2]}, "list of 2 values"),
        ("dataframe_split", {"columns": ["a"], "data": [[1]], "index": [1, 2]}, "one label"),
        ("dataframe_split", {"columns": ["a"], "data": [[1], [2]], "index": [1]}, "one label"),
        ("dataframe_split", {"data": [[1], [2], [3]], "index": [1, 2]}, "one label"),
        ("dataframe_records", {"a": [1]}, "list of records"),
        ("dataframe_records", [{"a": 1}, [1]], "only records"),
        ("dataframe_records", [{"a": 1}, None], "only records"),
        ("instances", [{"a": 1}, [1]], "only records"),
        ("inputs", "abc", "list of records or an object of columns"),
    ],
)
def test_from_json_refuses_what_mlflow_cannot_read_as_bad_request(
    key: str, value: Any, words: str
) -> None:
    error = _refused(key, value)
    assert error.mlflow_code == "BAD_REQUEST"
    assert words in error.message


def test_from_json_refuses_a_repeated_split_column_as_invalid_parameter() -> None:
    with pytest.raises(DuplicateKeyError) as caught:
        _table("dataframe_split", {"columns": ["a", "b", "a"], "data": [[1, 2, 3]]})
    assert caught.value.mlflow_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.details[0]["field"] == "dataframe_split.columns"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ([{"a": 1, "b": 2}, {"a": 3}], "BAD_REQUEST"),  # a required column is short
        ([{"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 4}], "INVALID_PARAMETER_VALUE"),
    ],
)
def test_from_json_instances_need_every_key_in_every_record(value: Any, code: str) -> None:
    error = _refused("instances", value)
    assert error.mlflow_code == code
    assert "every key in every record" in error.message


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("inputs", {"a": [1, 2], "b": [3]}, "INVALID_PARAMETER_VALUE"),
        ("instances", {"a": [1, 2], "b": [3]}, "BAD_REQUEST"),
        ("instances", {"a": [1, 2], "b": [3, 4], "c": [5]}, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_from_json_columns_of_different_lengths_are_refused(
    key: str, value: Any, code: str
) -> None:
    error = _refused(key, value)
    assert error.mlflow_code == code
    assert "as many values" in error.message


def test_from_json_messages_shorten_client_chosen_names() -> None:
    error = _refused("dataframe_split", {"data": [], "x" * 500: 1})
    assert "x" * 64 in error.message and "x" * 65 not in error.message


@pytest.mark.parametrize(
    ("key", "value", "columns", "rows"),
    [
        pytest.param(
            "dataframe_records",
            [{"a": 1, "x": 5}, {"y": 6, "b": 2}],
            {"a": [1, ABSENT], "x": [], "y": [], "b": [ABSENT, 2]},
            2,
            id="records",
        ),
        pytest.param(
            "instances",
            [{"a": 1, "x": 5, "b": 2}, {"x": 6, "b": 3, "a": 4}],
            {"a": [1, 4], "x": [], "b": [2, 3]},
            2,
            id="instances-records",
        ),
        pytest.param(
            "inputs",
            {"x": 7, "a": [1, 2], "y": [3, 4]},
            {"x": [], "a": [1, 2], "y": []},
            2,
            id="columns",
        ),
        pytest.param("inputs", {"x": 7, "a": 1}, {"x": [], "a": [1]}, 1, id="scalars"),
        pytest.param(
            "dataframe_split",
            {"columns": ["x", "a", "y", "b"], "data": [[9, 1, 8, 2], [7, 3, 6, 4]]},
            {"x": [], "a": [1, 3], "y": [], "b": [2, 4]},
            2,
            id="split-lists",
        ),
        pytest.param(
            "dataframe_split",
            {"columns": ["b", "x"], "data": [{"x": 1, "b": 2}, {"a": 3}]},
            {"b": [2, ABSENT], "x": []},
            2,
            id="split-objects",
        ),
        pytest.param(
            "dataframe_split",
            {"data": [{"x": 1, "b": 2}, {"a": 3}]},
            {"x": [], "b": [2, ABSENT], "a": [ABSENT, 3]},
            2,
            id="split-objects-no-columns",
        ),
    ],
)
def test_from_json_names_columns_that_are_no_feature_without_their_values(
    key: str, value: Any, columns: dict[str, list[Any]], rows: int
) -> None:
    # Their values are never read: building them made a body of many distinct keys cost
    # rows x keys (4,000 records of one ignored key each: seconds on the event loop).
    table = _table(key, value)
    assert table.columns == columns
    assert list(table.columns) == list(columns)
    assert table.rows == rows


def test_from_json_instances_short_key_found_from_counts() -> None:
    # every record holds a key once: the one left out of the last record is named
    records = [{"a": i, "b": i, "x": i} for i in range(5)] + [{"a": 5, "b": 5}]
    error = _refused("instances", records)
    assert error.details[0]["field"] == "instances.x"
    assert error.mlflow_code == "INVALID_PARAMETER_VALUE"
