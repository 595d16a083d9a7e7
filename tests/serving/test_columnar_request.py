"""The columnar /predict/batch body (columns, data): the row form's answers, the row form's
refusals with ``data.<row>.<feature>`` for ``instances.<row>.<feature>``, and its log rows.

Oracle: the pipeline (``model.joblib``) loaded here and given a DataFrame written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from petalflow.training.data import FEATURE_NAMES, load_dataset
from tests.conftest import make_settings, pipeline_frame, train_into

GOOD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SHUFFLED = ["petal_width", "sepal_length", "petal_length", "sepal_width"]
PENGUINS = [
    {
        "island": "Torgersen",
        "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181,
        "body_mass_g": 3750,
        "sex": "male",
    },
    {
        "island": "Biscoe",
        "bill_length_mm": None,
        "bill_depth_mm": 14.8,
        "flipper_length_mm": 212,
        "body_mass_g": 5200,
        "sex": None,
    },
    {
        "island": "Dream",
        "bill_length_mm": 49.5,
        "bill_depth_mm": 19.0,
        "flipper_length_mm": 200,
        "body_mass_g": 3800,
        "sex": "female",
    },
]
PENGUIN_ORDER = ["sex", "body_mass_g", "island", "flipper_length_mm", "bill_depth_mm"]


@pytest.fixture(scope="module")
def penguins(
    tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str
) -> Iterator[tuple[TestClient, Any]]:
    """A penguins logreg served with its prediction log on, and its pipeline."""
    from petalflow.serving.app import create_app

    folder = train_into(tmp_path_factory.mktemp("penguins") / "artifacts", "--dataset", "penguins")
    log = str(folder.parent / "predictions.db")
    with TestClient(create_app(make_settings(folder, prediction_log=log))) as client:
        yield client, joblib.load(folder / "model.joblib")


def _columnar(records: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"columns": columns, "data": [[r.get(c) for c in columns] for r in records]}


def _both_forms(
    api: TestClient, records: list[dict[str, Any]], body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row form's answer (as labels and a probability matrix) and the columnar one."""
    columnar = api.post("/predict/batch", json=body)
    rows = api.post("/predict/batch", json={"instances": records})
    assert columnar.status_code == rows.status_code == 200, (columnar.text, rows.text)
    answer = columnar.json()
    assert set(answer) == {"labels", "classes", "probabilities", "model_version", "latency_ms"}
    assert columnar.headers["x-model-version"] == answer["model_version"]
    classes = answer["classes"]
    predictions = rows.json()["predictions"]
    as_rows = {
        "labels": [p["predicted_label"] for p in predictions],
        "probabilities": [[p["class_probabilities"][c] for c in classes] for p in predictions],
    }
    return as_rows, answer


def _assert_like_the_pipeline(answer: dict[str, Any], model: Any, frame: pd.DataFrame) -> None:
    assert answer["classes"] == [str(c) for c in model.classes_]
    expected = model.predict_proba(frame)
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=0, atol=1e-9)
    assert answer["labels"] == [str(label) for label in model.predict(frame)]


def test_columnar_iris_batch_answers_as_the_row_form_and_the_pipeline(
    api: TestClient, trained: Path
) -> None:
    X, _ = load_dataset()
    sample = X.iloc[::4]
    records = [dict(zip(X.columns, map(float, row), strict=True)) for row in sample.to_numpy()]
    as_rows, answer = _both_forms(api, records, _columnar(records, SHUFFLED))
    assert answer["labels"] == as_rows["labels"]
    assert answer["probabilities"] == as_rows["probabilities"]  # the same floats
    assert len(set(answer["labels"])) == 3
    _assert_like_the_pipeline(answer, joblib.load(trained / "model.joblib"), sample)


@pytest.mark.parametrize(
    "columns", [[*PENGUIN_ORDER, "bill_length_mm"], PENGUIN_ORDER], ids=["all", "left-out"]
)
def test_columnar_penguins_batch_answers_as_the_row_form_and_the_pipeline(
    penguins: tuple[TestClient, Any], columns: list[str]
) -> None:
    api, model = penguins
    # a left-out nullable column is null on every row, as a left-out key is in a record
    records = [{c: r[c] for c in columns} for r in PENGUINS]
    as_rows, answer = _both_forms(api, records, _columnar(records, columns))
    assert answer == {**answer, **as_rows}
    _assert_like_the_pipeline(answer, model, pipeline_frame(records, list(model.feature_names_in_)))


def test_columnar_batch_rows_are_logged_and_take_feedback(
    penguins: tuple[TestClient, Any],
) -> None:
    api, _ = penguins
    headers = {"X-Request-ID": "columnar-1"}
    body = _columnar(PENGUINS, list(PENGUINS[0]))
    answer = api.post("/predict/batch", json=body, headers=headers).json()
    assert api.get("/monitoring/drift").status_code == 200  # written to the file
    for row in (2, 0):
        feedback = {"request_id": f"columnar-1:{row}", "true_label": "Gentoo"}
        joined = api.post("/feedback", json=feedback)
        assert joined.status_code == 200, joined.text
        assert joined.json()["predicted_label"] == answer["labels"][row]
    assert api.post("/predict/batch", json=body, headers=headers).json() == {
        **answer,
        "latency_ms": pytest.approx(0, abs=1e3),
    }  # a reused client id replays the logged answer, columnar too


def _row_body(bad: Any) -> dict[str, Any]:
    return {"instances": [GOOD, bad]}


def _col_body(bad: Any, columns: tuple[str, ...] = tuple(GOOD)) -> dict[str, Any]:
    return {"columns": list(columns), "data": [list(GOOD.values()), bad]}


VALUES = list(GOOD.values())
# (row-form body, its (field, rule)); the columnar counterpart, its (field, rule)
COUNTERPARTS = [
    pytest.param(
        _row_body({**GOOD, "petal_width": -1}),
        ("instances.1.petal_width", "greater_than"),
        _col_body([*VALUES[:3], -1]),
        ("data.1.petal_width", "greater_than"),
        id="bound",
    ),
    pytest.param(
        _row_body({**GOOD, "sepal_width": 101}),
        ("instances.1.sepal_width", "less_than_equal"),
        _col_body([5.1, 101, 1.4, 0.2]),
        ("data.1.sepal_width", "less_than_equal"),
        id="upper-bound",
    ),
    pytest.param(
        _row_body({**GOOD, "petal_width": "0.2"}),
        ("instances.1.petal_width", "float_type"),
        _col_body([*VALUES[:3], "0.2"]),
        ("data.1.petal_width", "float_type"),
        id="string",
    ),
    pytest.param(
        _row_body({**GOOD, "petal_width": True}),
        ("instances.1.petal_width", "float_type"),
        _col_body([*VALUES[:3], True]),
        ("data.1.petal_width", "float_type"),
        id="bool",
    ),
    pytest.param(
        _row_body({**GOOD, "petal_width": None}),
        ("instances.1.petal_width", "float_type"),
        _col_body([*VALUES[:3], None]),
        ("data.1.petal_width", "float_type"),
        id="null",
    ),
    pytest.param(
        _row_body({**GOOD, "petal_width": [0.2]}),
        ("instances.1.petal_width", "float_type"),
        _col_body([*VALUES[:3], [0.2]]),
        ("data.1.petal_width", "float_type"),
        id="list-value",
    ),
    pytest.param(
        _row_body({**GOOD, "colour": 1}),
        ("instances.1.colour", "extra_forbidden"),
        _col_body([*VALUES, 1], (*GOOD, "colour")),
        ("columns.4", "extra_forbidden"),
        id="unknown",
    ),
    pytest.param(
        _row_body({k: v for k, v in GOOD.items() if k != "petal_width"}),
        ("instances.1.petal_width", "missing"),
        _col_body(VALUES[:3], tuple(GOOD)[:3]),
        ("columns", "missing"),
        id="missing",
    ),
    pytest.param(
        _row_body({k: v for k, v in GOOD.items() if k != "petal_width"}),
        ("instances.1.petal_width", "missing"),
        _col_body(VALUES[:3]),
        ("data.1", "too_short"),
        id="short-row",
    ),
    pytest.param(
        _row_body({**GOOD, "colour": 1}),
        ("instances.1.colour", "extra_forbidden"),
        _col_body([*VALUES, 1]),
        ("data.1", "too_long"),
        id="long-row",
    ),
    pytest.param(
        _row_body(list(VALUES)),
        ("instances.1", "model_type"),
        _col_body(GOOD),
        ("data.1", "list_type"),
        id="row-type",
    ),
    pytest.param(
        {"instances": []},
        ("instances", "too_short"),
        {"columns": list(GOOD), "data": []},
        ("data", "too_short"),
        id="empty",
    ),
    pytest.param(
        {"instances": GOOD},
        ("instances", "list_type"),
        {"columns": list(GOOD), "data": VALUES},
        ("data.0", "list_type"),
        id="not-rows",
    ),
    pytest.param(
        {"instances": [GOOD], "x": 1},
        ("x", "extra_forbidden"),
        {**_col_body(VALUES), "x": 1},
        ("x", "extra_forbidden"),
        id="extra-key",
    ),
    pytest.param(
        {"instances": [GOOD], "data": [VALUES]},
        ("instances", "extra_forbidden"),
        {**_col_body(VALUES), "instances": [GOOD]},
        ("instances", "extra_forbidden"),
        id="both-forms",
    ),
    pytest.param(
        {},
        ("instances", "missing"),
        {"columns": list(GOOD)},
        ("data", "missing"),
        id="no-rows",
    ),
]


@pytest.mark.parametrize(("row_body", "row_error", "col_body", "col_error"), COUNTERPARTS)
def test_columnar_refusals_mirror_the_row_forms(
    api: TestClient,
    row_body: dict[str, Any],
    row_error: tuple[str, str],
    col_body: dict[str, Any],
    col_error: tuple[str, str],
) -> None:
    for body, error in ((row_body, row_error), (col_body, col_error)):
        response = api.post("/predict/batch", json=body)
        assert response.status_code == 422, response.text
        answer = response.json()
        assert answer["error"] == "validation_error"
        assert [(d["field"], d["rule"]) for d in answer["details"]] == [error]
        assert answer["message"].startswith(f"invalid request: {error[0]}")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("feature", ["sepal_length", "petal_width"])
def test_columnar_non_finite_literals_are_named_as_the_row_form_names_them(
    api: TestClient, literal: str, feature: str
) -> None:
    # Strict JSON has no NaN: the body is read leniently only to name the value.
    values = [literal if name == feature else str(v) for name, v in GOOD.items()]
    good = json.dumps(GOOD)
    bad = "{" + ", ".join(f'"{name}": {v}' for name, v in zip(GOOD, values, strict=True)) + "}"
    columns = json.dumps(list(GOOD))
    for raw, field in (
        (f'{{"instances": [{good}, {bad}]}}', f"instances.1.{feature}"),
        (
            f'{{"columns": {columns}, "data": [{VALUES}, [{", ".join(values)}]]}}',
            f"data.1.{feature}",
        ),
    ):
        response = api.post(
            "/predict/batch", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, raw
        details = response.json()["details"]
        assert [(d["field"], d["rule"]) for d in details] == [(field, "finite_number")], raw


@pytest.mark.parametrize("literal", ["NaN", "-Infinity"])
def test_columnar_non_finite_literal_in_a_nullable_column_is_not_a_gap(
    penguins: tuple[TestClient, Any], literal: str
) -> None:
    api, _ = penguins
    columns = list(PENGUINS[0])
    row = ", ".join(
        literal if c == "bill_length_mm" else json.dumps(PENGUINS[0][c]) for c in columns
    )
    raw = f'{{"columns": {json.dumps(columns)}, "data": [[{row}]]}}'
    response = api.post("/predict/batch", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    details = response.json()["details"]
    assert [(d["field"], d["rule"]) for d in details] == [
        ("data.0.bill_length_mm", "finite_number")
    ]


def test_columnar_unknown_and_missing_columns_are_named(api: TestClient) -> None:
    unknown = api.post("/predict/batch", json=_col_body([*VALUES, 1], (*GOOD, "colour")))
    message = unknown.json()["details"][0]["message"]
    assert "'colour' is not a feature" in message and str(list(FEATURE_NAMES)) in message
    missing = api.post("/predict/batch", json=_col_body(VALUES[:2], tuple(GOOD)[:2]))
    assert "['petal_length', 'petal_width']" in missing.json()["details"][0]["message"]


def test_columnar_repeated_column_is_refused_as_a_repeated_key(api: TestClient) -> None:
    columns = (*GOOD, "sepal_length")  # which of the two counts would be a guess
    response = api.post("/predict/batch", json=_col_body([*VALUES, 7.7], columns))
    assert response.status_code == 422
    assert response.json()["error"] == "duplicate_key"
    detail = response.json()["details"][0]
    assert (detail["field"], detail["rule"]) == ("columns", "duplicate_key")
    assert detail["message"] == "sepal_length appears twice in columns; send each column once"


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("island", "Atlantis", "literal_error"),
        ("island", None, "literal_error"),  # not nullable
        ("island", 1, "literal_error"),
        ("sex", "unknown", "literal_error"),
        ("flipper_length_mm", 181.5, "multiple_of"),
        ("body_mass_g", -5, "greater_than"),
        ("bill_depth_mm", "18.7", "float_type"),
    ],
)
def test_columnar_penguins_refusals_mirror_the_row_forms(
    penguins: tuple[TestClient, Any], column: str, value: Any, rule: str
) -> None:
    api, _ = penguins
    bad = [PENGUINS[0], {**PENGUINS[2], column: value}]
    columns = list(PENGUINS[0])
    for body, field in (
        ({"instances": bad}, f"instances.1.{column}"),
        (_columnar(bad, columns[::-1]), f"data.1.{column}"),
    ):
        response = api.post("/predict/batch", json=body)
        assert response.status_code == 422, response.text
        details = response.json()["details"]
        assert [(d["field"], d["rule"]) for d in details] == [(field, rule)]
        if value == "Atlantis":  # the allowed values are listed
            assert all(name in details[0]["message"] for name in ("Biscoe", "Dream", "Torgersen"))


def test_columnar_batch_over_the_row_limit_is_the_row_forms_413(trained: Path) -> None:
    from petalflow.serving.app import create_app

    with TestClient(create_app(make_settings(trained, max_batch_rows=3))) as small:
        for body, field in (
            ({"instances": [GOOD] * 4}, "instances"),
            ({"columns": list(GOOD), "data": [VALUES] * 4}, "data"),
            ({"columns": list(GOOD), "data": [["not checked"]] * 4}, "data"),
            # Rows that would fail validation are counted first, not each checked.
            ({"instances": [1] * 4}, "instances"),
            ({"instances": [{"colour": "red"}] * 4}, "instances"),
        ):
            response = small.post("/predict/batch", json=body)
            assert response.status_code == 413, response.text
            assert response.json()["error"] == "payload_too_large"
            detail = response.json()["details"][0]
            assert (detail["field"], detail["rule"]) == (field, "max_length")
            assert "MAX_BATCH_ROWS" in response.json()["message"]
        ok = small.post("/predict/batch", json={"columns": list(GOOD), "data": [VALUES] * 3})
        assert ok.status_code == 200 and ok.json()["labels"] == ["setosa"] * 3
