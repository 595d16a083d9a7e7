"""Serving models trained on tables with categories, booleans and gaps (penguins, and a
user's CSV): every route answers with the pipeline's own probabilities, bad input is a
422 naming the field, and the OpenAPI document carries the contract.

Oracle: ``model.joblib`` loaded here and given a DataFrame written by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings, pipeline_frame, train_into, wait_for_fast_path
from tests.training.conftest import write_contract

PENGUIN = {  # the table's first penguin (Adelie, Torgersen)
    "island": "Torgersen",
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "sex": "male",
}
PENGUIN_GAPS = {**PENGUIN, "bill_length_mm": None, "sex": None}
LEVEL = {"tenure months": 12, "größe": 2.5, "plan": "pro", "active": True, "score": None}
TOLERANCE = 1e-9


def _serve(folder: Path, **settings: Any) -> Iterator[tuple[TestClient, Any]]:
    from petalflow.serving.app import create_app

    with TestClient(create_app(make_settings(folder, **settings))) as test_client:
        yield test_client, joblib.load(folder / "model.joblib")


@pytest.fixture(scope="module", params=["logreg", "rf"])
def penguins(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str
) -> Iterator[tuple[TestClient, Any]]:
    folder = tmp_path_factory.mktemp(f"penguins-{request.param}") / "artifacts"
    train_into(folder, "--dataset", "penguins", "--model", request.param, "--n-estimators", "40")
    yield from _serve(folder, prediction_log=str(folder.parent / "predictions.db"))


@pytest.fixture(scope="module", params=["logreg", "rf"])
def levels(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str
) -> Iterator[tuple[TestClient, Any]]:
    contract = write_contract(tmp_path_factory.mktemp("table"))
    folder = tmp_path_factory.mktemp(f"levels-{request.param}") / "artifacts"
    train_into(folder, "--dataset", str(contract), "--model", request.param, "--n-estimators", "40")
    yield from _serve(folder)


def _expected(model: Any, rows: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(model.predict_proba(pipeline_frame(rows, list(model.feature_names_in_))))


def _proba(answer: dict[str, Any], classes: list[str]) -> list[float]:
    return [answer["class_probabilities"][c] for c in classes]


def _check_routes(api: TestClient, model: Any, rows: list[dict[str, Any]]) -> None:
    classes = [str(c) for c in model.classes_]
    expected = _expected(model, rows)
    for row, want in zip(rows, expected, strict=True):
        answer = api.post("/predict", json=row)
        assert answer.status_code == 200, answer.text
        assert np.allclose(_proba(answer.json(), classes), want, atol=TOLERANCE, rtol=0)
        assert answer.json()["predicted_label"] == classes[int(np.argmax(want))]
    batch = api.post("/predict/batch", json={"instances": rows}).json()["predictions"]
    got = np.array([_proba(p, classes) for p in batch])
    assert np.allclose(got, expected, atol=TOLERANCE, rtol=0)
    columns = list(model.feature_names_in_)
    split = {"columns": columns, "data": [[r.get(c) for c in columns] for r in rows]}
    invoked = api.post("/invocations", json={"dataframe_split": split})
    assert invoked.status_code == 200, invoked.text
    labels = [classes[int(i)] for i in expected.argmax(axis=1)]
    assert invoked.json() == {"predictions": labels}


def test_penguins_model_answers_every_route_with_the_pipelines_probabilities(
    penguins: tuple[TestClient, Any],
) -> None:
    api, model = penguins
    rows = [
        PENGUIN,
        PENGUIN_GAPS,
        {**PENGUIN, "island": "Biscoe", "flipper_length_mm": 230.0, "body_mass_g": 6000},
        {**PENGUIN, "island": "Dream", "sex": "female", "bill_depth_mm": None},
    ]
    _check_routes(api, model, rows)


def test_csv_model_answers_every_route_with_the_pipelines_probabilities(
    levels: tuple[TestClient, Any],
) -> None:
    api, model = levels
    rows = [
        LEVEL,
        {**LEVEL, "plan": "basic", "active": False, "score": 4.25, "tenure months": 0},
        {**LEVEL, "plan": "plus", "größe": -1.0, "score": -3.0, "tenure months": 100},
    ]
    _check_routes(api, model, rows)


def test_penguins_model_takes_a_left_out_nullable_field_as_null(
    penguins: tuple[TestClient, Any],
) -> None:
    api, model = penguins
    row = {k: v for k, v in PENGUIN_GAPS.items() if v is not None}
    answer = api.post("/predict", json=row)
    assert answer.status_code == 200, answer.text
    classes = [str(c) for c in model.classes_]
    want = _expected(model, [PENGUIN_GAPS])[0]
    assert np.allclose(_proba(answer.json(), classes), want, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"island": None}, "island", "literal_error"),  # not nullable
        ({"island": "Atlantis"}, "island", "literal_error"),
        ({"island": 1}, "island", "literal_error"),
        ({"bill_depth_mm": "18.7"}, "bill_depth_mm", "float_type"),
        ({"bill_depth_mm": True}, "bill_depth_mm", "float_type"),
        ({"flipper_length_mm": 181.5}, "flipper_length_mm", "multiple_of"),
        ({"body_mass_g": -5}, "body_mass_g", "greater_than"),
        ({"sex": "unknown"}, "sex", "literal_error"),
        ({"beak_colour": "red"}, "beak_colour", "extra_forbidden"),
    ],
)
def test_penguins_bad_input_is_a_422_naming_the_field_and_rule(
    penguins: tuple[TestClient, Any], change: dict[str, Any], field: str, rule: str
) -> None:
    api, _ = penguins
    # /invocations answers as `mlflow models serve`: a numeric string is converted and an
    # extra column ignored (200); every other refusal is its 400.
    mlflow_accepts = rule in ("extra_forbidden",) or change == {"bill_depth_mm": "18.7"}
    for path, body, status in (
        ("/predict", {**PENGUIN, **change}, 422),
        ("/predict/batch", {"instances": [PENGUIN, {**PENGUIN, **change}]}, 422),
        (
            "/invocations",
            {"dataframe_records": [PENGUIN, {**PENGUIN, **change}]},
            200 if mlflow_accepts else 400,
        ),
    ):
        answer = api.post(path, json=body)
        assert answer.status_code == status, (path, answer.text)
        if status != 200:
            details = answer.json()["details"]
            assert [(d["field"].split(".")[-1], d["rule"]) for d in details] == [(field, rule)]


def test_penguins_a_missing_required_field_is_a_422_naming_it(
    penguins: tuple[TestClient, Any],
) -> None:
    api, _ = penguins
    row = {k: v for k, v in PENGUIN.items() if k != "island"}
    answer = api.post("/predict", json=row)
    assert answer.status_code == 422
    assert [(d["field"], d["rule"]) for d in answer.json()["details"]] == [("island", "missing")]


def test_penguins_unknown_category_lists_the_allowed_values(
    penguins: tuple[TestClient, Any],
) -> None:
    api, _ = penguins
    answer = api.post("/predict", json={**PENGUIN, "island": "Atlantis"})
    assert answer.status_code == 422
    message = answer.json()["details"][0]["message"]
    assert all(name in message for name in ("Biscoe", "Dream", "Torgersen")), message


def test_csv_model_bool_takes_true_false_only(levels: tuple[TestClient, Any]) -> None:
    api, _ = levels
    for value in ("true", 1, None):
        answer = api.post("/predict", json={**LEVEL, "active": value})
        assert answer.status_code == 422, value
        assert answer.json()["details"][0]["field"] == "active"


def test_penguins_openapi_carries_types_bounds_enums_and_an_example(
    penguins: tuple[TestClient, Any],
) -> None:
    api, _ = penguins
    schema = api.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    row = body["schema"]
    fields = row["properties"]
    island = fields["island"]
    assert island["enum"] == ["Biscoe", "Dream", "Torgersen"]
    assert "island" in row["required"] and "sex" not in row["required"]
    sex_types = {option.get("type") for option in fields["sex"]["anyOf"]}
    assert sex_types == {"string", "null"}
    flipper = next(o for o in fields["flipper_length_mm"]["anyOf"] if o.get("type") != "null")
    assert flipper["type"] == "integer" and flipper["exclusiveMinimum"] == 0
    assert row["examples"][0]["island"] == "Torgersen"
    assert row["examples"][0]["bill_length_mm"] == 39.1
    batch = schema["paths"]["/predict/batch"]["post"]["requestBody"]["content"]
    rows, columnar = batch["application/json"]["schema"]["oneOf"]
    items = rows["properties"]["instances"]["items"]
    assert items["properties"]["island"]["enum"] == ["Biscoe", "Dream", "Torgersen"]
    names = columnar["properties"]["columns"]
    assert (names["minItems"], names["maxItems"]) == (len(row["required"]), len(PENGUIN))
    assert columnar["examples"][0]["data"][0][0] == "Torgersen"


def test_penguins_openapi_describes_categories_and_nullable_features(
    penguins: tuple[TestClient, Any],
) -> None:
    api, _ = penguins
    description = api.get("/openapi.json").json()["paths"]["/predict"]["post"]["description"]
    assert description.startswith("Label, class probabilities")
    assert '`island` is one of "Biscoe", "Dream", "Torgersen"' in description
    assert '`sex` is one of "female", "male"' in description
    assert "the others are JSON numbers inside the contract's bounds" in description
    assert "(whole numbers: `flipper_length_mm`, `body_mass_g`)" in description
    nullable = "`bill_length_mm`, `bill_depth_mm`, `flipper_length_mm`, `body_mass_g`, `sex`"
    assert f"required except {nullable}, which may be null or left out" in description
    assert "Every feature is required, a JSON number" not in description


def test_penguins_model_info_lists_its_features(penguins: tuple[TestClient, Any]) -> None:
    api, _ = penguins
    info = api.get("/model").json()
    assert info["feature_names"] == list(PENGUIN)
    assert info["class_names"] == ["Adelie", "Chinstrap", "Gentoo"]


def test_penguins_a_retried_request_with_nulls_replays_its_answer(
    penguins: tuple[TestClient, Any],
) -> None:
    api, _ = penguins
    headers = {"X-Request-ID": "penguin-retry"}
    first = api.post("/predict", json=PENGUIN_GAPS, headers=headers)
    assert api.get("/monitoring/drift").status_code == 200  # written to the file
    again = api.post("/predict", json=PENGUIN_GAPS, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["class_probabilities"] == first.json()["class_probabilities"]
    other = api.post("/predict", json={**PENGUIN_GAPS, "sex": "female"}, headers=headers)
    assert other.status_code == 409


@pytest.fixture(scope="module")
def penguins_rf(tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str) -> Path:
    folder = tmp_path_factory.mktemp("penguins-rf-range") / "artifacts"
    return train_into(folder, "--dataset", "penguins", "--model", "rf", "--n-estimators", "10")


@pytest.mark.parametrize("fast_path", [True, False])
def test_penguins_forest_refuses_a_number_its_scaling_overflows_naming_row_and_field(
    penguins_rf: Path, fast_path: bool
) -> None:
    """The contract has no upper bound on bill_length_mm; 1e100 is finite, but scaled
    it is an infinity as a float32, which a forest compares: scikit-learn refuses it (the
    oracle). It is the client's number: a 4xx naming the row, the field and the rule, not
    a 500, with the fast path or without."""
    huge = {**PENGUIN, "bill_length_mm": 1e100}
    model = joblib.load(penguins_rf / "model.joblib")
    with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
        _expected(model, [huge])
    from petalflow.serving.app import create_app

    with TestClient(create_app(make_settings(penguins_rf, fast_path=fast_path))) as api:
        if fast_path:
            wait_for_fast_path(api.get)
        single = api.post("/predict", json=huge)
        batch = api.post("/predict/batch", json={"instances": [PENGUIN, PENGUIN, huge]})
        mlflow = api.post("/invocations", json={"dataframe_records": [PENGUIN, huge]})
        assert api.post("/predict", json=PENGUIN).status_code == 200
    for answer, status, where in (
        (single, 422, ""),
        (batch, 422, "row 2, "),
        (mlflow, 400, "row 1, "),
    ):
        assert answer.status_code == status, answer.text
        message = answer.json()["message"]
        assert message.startswith(
            f"{where}bill_length_mm: 1e+100 is out of the range this model can score: "
            "scaled by its training data it must fit a float32"
        ), message
    assert single.json()["details"] == [
        {"field": "bill_length_mm", "rule": "model_range", "message": single.json()["message"]}
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("bill_length_mm", 1e100), ("body_mass_g", 1e300), ("bill_length_mm", 3e38)],
)
def test_penguins_a_huge_number_is_refused_exactly_when_scikit_learn_refuses_it(
    penguins: tuple[TestClient, Any], field: str, value: float
) -> None:
    """Logistic regression scales in float64, where these stay finite: scored as the
    pipeline scores them. The forest refuses 1e100 and 1e300 (float32), and scores 3e38,
    which its scaling keeps within float32 (bill_length_mm's scale is above 1)."""
    api, model = penguins
    row = {**PENGUIN, field: value}
    try:
        expected = _expected(model, [row])[0]
    except ValueError:
        expected = None
    answer = api.post("/predict", json=row)
    if expected is None:
        assert answer.status_code == 422, answer.text
        assert [(d["field"], d["rule"]) for d in answer.json()["details"]] == [
            (field, "model_range")
        ]
    else:
        assert answer.status_code == 200, answer.text
        classes = [str(c) for c in model.classes_]
        assert np.allclose(_proba(answer.json(), classes), expected, atol=TOLERANCE, rtol=0)
