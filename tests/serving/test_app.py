"""The API through the ASGI app: contract, validation and error format (SPEC 3)."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from petalflow.training.data import FEATURE_NAMES, load_dataset
from tests.conftest import ROOT

GOOD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
CLASSES = ["setosa", "versicolor", "virginica"]


def _assert_clean_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    mlflow = {"error_code"} if response.request.url.path == "/invocations" else set()
    assert set(body) == {"error", "message", "details", "request_id", *mlflow}
    assert body["request_id"] == response.headers["x-request-id"]
    text = response.text
    for leak in ("Traceback", 'File "', str(ROOT), "site-packages", "/tmp/"):
        assert leak not in text, leak
    if field is not None:
        assert field in body["message"]
        assert any(
            d["field"] == field or (d["field"] or "").endswith(field) for d in body["details"]
        )
    return body


def test_health_answers_ok(api: TestClient) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_predict_answers_label_probabilities_version_latency(
    api: TestClient, trained: Path
) -> None:
    response = api.post("/predict", json=GOOD)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"predicted_label", "class_probabilities", "model_version", "latency_ms"}
    assert body["predicted_label"] == "setosa"
    assert sorted(body["class_probabilities"]) == CLASSES
    assert math.isclose(sum(body["class_probabilities"].values()), 1.0, abs_tol=1e-9)
    info = json.loads((trained / "model_info.json").read_text())
    assert body["model_version"] == info["run_id"]
    assert isinstance(body["latency_ms"], float) and body["latency_ms"] >= 0


@pytest.mark.parametrize("client_name", ["api", "api_sklearn"])
def test_predict_equals_pipeline_predict_proba(
    client_name: str, request: pytest.FixtureRequest, trained: Path
) -> None:
    client: TestClient = request.getfixturevalue(client_name)
    pipeline = joblib.load(trained / "model.joblib")
    X, _ = load_dataset()
    for i in range(0, 150, 7):
        row = X.iloc[i].to_dict()
        body = client.post("/predict", json=row).json()
        expected = pipeline.predict_proba(X.iloc[[i]])[0]
        got = [body["class_probabilities"][c] for c in CLASSES]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        assert body["predicted_label"] == pipeline.predict(X.iloc[[i]])[0]


def test_predict_accepts_integers_as_floats(api: TestClient) -> None:
    response = api.post(
        "/predict", json={"sepal_length": 5, "sepal_width": 3, "petal_length": 1, "petal_width": 1}
    )
    assert response.status_code == 200


def test_predict_batch_keeps_order_and_equals_single_predictions(api: TestClient) -> None:
    X, _ = load_dataset()
    rows = [X.iloc[i].to_dict() for i in (0, 149, 60, 1, 100, 75)]
    response = api.post("/predict/batch", json={"instances": rows})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == api.get("/model").json()["model_version"]
    assert body["latency_ms"] >= 0
    singles = [api.post("/predict", json=row).json() for row in rows]
    assert [p["predicted_label"] for p in body["predictions"]] == [
        s["predicted_label"] for s in singles
    ]
    for batch_row, single in zip(body["predictions"], singles, strict=True):
        for c in CLASSES:
            assert batch_row["class_probabilities"][c] == pytest.approx(
                single["class_probabilities"][c], abs=1e-12
            )


def test_predict_batch_large_runs_off_loop_and_matches(api: TestClient, trained: Path) -> None:
    rng = np.random.default_rng(0)
    rows = rng.uniform(0.1, 8, size=(5000, 4))
    response = api.post(
        "/predict/batch",
        json={"instances": [dict(zip(FEATURE_NAMES, r, strict=True)) for r in rows.tolist()]},
    )
    assert response.status_code == 200
    labels = [p["predicted_label"] for p in response.json()["predictions"]]
    pipeline = joblib.load(trained / "model.joblib")
    assert labels == list(pipeline.predict(pd.DataFrame(rows, columns=list(FEATURE_NAMES))))


def _predicted_per_class(api: TestClient) -> dict[str, float]:
    families = text_string_to_metric_families(api.get("/metrics").text)
    family = next(f for f in families if f.name == "petalflow_predictions")
    return {
        s.labels["predicted_class"]: s.value
        for s in family.samples
        if s.name == "petalflow_predictions_total"
    }


def test_predict_batch_counts_each_predicted_class(api: TestClient, trained: Path) -> None:
    rows = np.random.default_rng(7).uniform(0.1, 8, size=(600, 4))
    before = _predicted_per_class(api)
    body = {"columns": list(FEATURE_NAMES), "data": rows.tolist()}
    assert api.post("/predict/batch", json=body).status_code == 200
    after = _predicted_per_class(api)
    pipeline = joblib.load(trained / "model.joblib")
    expected = Counter(pipeline.predict(pd.DataFrame(rows, columns=list(FEATURE_NAMES))))
    assert len(expected) >= 2  # a batch of more than one class
    counted = {c: after.get(c, 0) - before.get(c, 0) for c in CLASSES}
    assert counted == {c: expected.get(c, 0) for c in CLASSES}


def test_model_reports_what_is_served(api: TestClient, trained: Path) -> None:
    body = api.get("/model").json()
    info = json.loads((trained / "model_info.json").read_text())
    assert body["run_id"] == body["model_version"] == info["run_id"]
    assert body["sha256"] == info["sha256"]
    assert body["feature_names"] == list(FEATURE_NAMES)
    assert body["class_names"] == CLASSES
    assert body["params"]["model"] == "logreg"
    assert body["params"]["dataset"] == "iris"
    # The training machine's artifacts folder is in params.json, not in the answer.
    assert json.loads((trained / "params.json").read_text())["artifacts_dir"] == str(trained)
    assert "artifacts_dir" not in body["params"]
    assert str(trained) not in json.dumps(body["params"])
    assert (
        body["metrics"]["accuracy"]
        == json.loads((trained / "metrics.json").read_text())["accuracy"]
    )
    assert body["loaded_at"]


def _cases() -> list[Any]:
    cases: list[Any] = []
    for f in FEATURE_NAMES:
        cases.append(
            pytest.param({k: v for k, v in GOOD.items() if k != f}, 422, f, id=f"missing-{f}")
        )
        for label, bad in [
            ("str", "abc"),
            ("numstr", "5.1"),
            ("bool", True),
            ("null", None),
            ("list", [1.0]),
            ("obj", {"v": 1}),
        ]:
            cases.append(pytest.param({**GOOD, f: bad}, 422, f, id=f"{label}-{f}"))
        for label, bad in [("zero", 0), ("negative", -1.5), ("above100", 100.5)]:
            cases.append(pytest.param({**GOOD, f: bad}, 422, f, id=f"{label}-{f}"))
    cases.append(pytest.param({**GOOD, "colour": "blue"}, 422, "colour", id="unknown-field"))
    return cases


@pytest.mark.parametrize(("payload", "status", "field"), _cases())
def test_predict_rejects_invalid_fields(
    api: TestClient, payload: dict[str, Any], status: int, field: str
) -> None:
    body = _assert_clean_error(api.post("/predict", json=payload), status, field)
    assert body["error"] == "validation_error"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("field", FEATURE_NAMES)
def test_predict_rejects_non_finite_literals(api: TestClient, literal: str, field: str) -> None:
    raw = json.dumps(GOOD).replace(f'"{field}": {GOOD[field]}', f'"{field}": {literal}')
    assert literal in raw
    body = _assert_clean_error(
        api.post("/predict", content=raw, headers={"content-type": "application/json"}), 422, field
    )
    assert any(d["rule"] == "finite_number" for d in body["details"])


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        pytest.param(b"", 400, "malformed_json", id="empty"),
        pytest.param(b"   \n ", 400, "malformed_json", id="whitespace"),
        pytest.param(b'{"sepal_length": 5.1,', 400, "malformed_json", id="truncated"),
        pytest.param(b"{sepal_length: 1}", 400, "malformed_json", id="unquoted"),
        pytest.param(b"[1, 2, 3, 4]", 422, "validation_error", id="top-level-list"),
        pytest.param(b"5.1", 422, "validation_error", id="top-level-number"),
        pytest.param(b'"hello"', 422, "validation_error", id="top-level-string"),
        pytest.param(b"null", 422, "validation_error", id="top-level-null"),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_bodies_that_are_not_objects_are_rejected(
    api: TestClient, path: str, raw: bytes, status: int, error: str
) -> None:
    status = 400 if path == "/invocations" else status  # MLflow's status: never 422
    body = _assert_clean_error(
        api.post(path, content=raw, headers={"content-type": "application/json"}), status
    )
    assert body["error"] == error
    assert ("JSON" in body["message"]) or ("object" in body["message"])
    if path == "/invocations":
        assert body["error_code"] == "BAD_REQUEST"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32-le"])
@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_json_is_decoded_as_pythons_json_module_decodes_it(
    api: TestClient, path: str, encoding: str
) -> None:
    # Behind a byte order mark, or in UTF-16 or UTF-32 (`mlflow models serve` reads
    # these with json.loads): the same answer as the UTF-8 body's.
    payload = {"instances": [GOOD]} if path == "/predict/batch" else GOOD
    if path == "/invocations":
        payload = {"dataframe_records": [GOOD]}
    headers = {"content-type": "application/json"}
    plain = api.post(path, content=json.dumps(payload).encode(), headers=headers)
    encoded = api.post(path, content=json.dumps(payload).encode(encoding), headers=headers)
    assert (plain.status_code, encoded.status_code) == (200, 200), encoded.text
    drop = ("latency_ms", "request_id", "prediction_id", "prediction_ids")
    assert {k: v for k, v in encoded.json().items() if k not in drop} == {
        k: v for k, v in plain.json().items() if k not in drop
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {**GOOD, "k" * 500_000: 1}),
        ("/predict/batch", {"instances": [{**GOOD, "k" * 300_000: 1}] * 3}),
        ("/predict/batch", {"columns": [*GOOD, "k" * 300_000], "data": [[*GOOD.values(), 1]] * 3}),
    ],
    ids=["row", "rows", "columns"],
)
def test_an_unknown_key_is_named_cut_short_not_echoed_whole(
    api: TestClient, path: str, body: dict[str, Any]
) -> None:
    """An error names a 500 KB key by its first 64 characters: the answer stays small
    (not 1.5 MB for one key, or 2.7 MB for three rows)."""
    answer = api.post(path, json=body)
    assert answer.status_code == 422, answer.text[:300]
    assert len(answer.content) < 4_000
    assert "k" * 64 in answer.text and "k" * 65 not in answer.text


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_wrong_content_type_is_415(api: TestClient, path: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = _assert_clean_error(
        api.post(path, content=json.dumps(GOOD).encode(), headers=headers), 415
    )
    assert "application/json" in body["message"]
    if path == "/invocations":  # MLflow's other media types are named too
        assert "text/csv" in body["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
        "application/json; charset=us-ascii",
        "application/vnd.api+json",
    ],
)
def test_content_type_with_charset_is_accepted(api: TestClient, content_type: str) -> None:
    response = api.post(
        "/predict",
        content=json.dumps(GOOD),
        headers={"content-type": content_type},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_a_charset_other_than_utf8_is_415(api: TestClient, path: str) -> None:
    headers = {"content-type": "application/json; charset=latin-1"}
    body = _assert_clean_error(api.post(path, content=json.dumps(GOOD), headers=headers), 415)
    assert body["message"] == (
        "Content-Type charset 'latin-1': JSON is read as UTF-8; "
        "send the body in UTF-8 (charset=utf-8, or no charset)"
    )


_HUGE = "1" + "0" * 400  # a JSON integer past float's range
_FEATURES = '"sepal_length", "sepal_width", "petal_length", "petal_width"'


@pytest.mark.parametrize(
    ("path", "body", "field", "status"),
    [
        (
            "/predict",
            f'{{"sepal_length": {_HUGE}, "sepal_width": 3, "petal_length": 1, "petal_width": 0.2}}',
            "sepal_length",
            422,
        ),
        (
            "/predict/batch",
            f'{{"columns": [{_FEATURES}], "data": [[5, 3, 1, 0.2], [{_HUGE}, 3, 1, 0.2]]}}',
            "data.1.sepal_length",
            422,
        ),
        (
            "/invocations",
            f'{{"dataframe_records": [{{"sepal_length": {_HUGE}, '
            '"sepal_width": 3, "petal_length": 1, "petal_width": 0.2}]}',
            "dataframe_records.0.sepal_length",
            400,
        ),
    ],
    ids=["row", "columnar", "invocations"],
)
def test_an_integer_past_floats_range_is_no_finite_number_in_every_form(
    api: TestClient, path: str, body: str, field: str, status: int
) -> None:
    sent = api.post(path, content=body, headers={"content-type": "application/json"})
    detail = _assert_clean_error(sent, status)["details"][0]
    assert detail == {
        "field": field,
        "rule": "finite_number",
        "message": f"{field}: Input should be a finite number",
    }


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations", "/feedback"])
def test_a_gzipped_body_is_415_not_garbled_json(api: TestClient, path: str) -> None:
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    sent = api.post(path, content=gzip.compress(json.dumps(GOOD).encode()), headers=headers)
    body = _assert_clean_error(sent, 415)
    assert body["message"] == (
        "Content-Encoding 'gzip' is not supported; send the body uncompressed (no Content-Encoding)"
    )


def _requests_counted(api: TestClient, route: str, status: str) -> float:
    families = text_string_to_metric_families(api.get("/metrics").text)
    family = next(f for f in families if f.name == "petalflow_requests")
    return sum(
        s.value
        for s in family.samples
        if s.name == "petalflow_requests_total"
        and (s.labels["route"], s.labels["status"]) == (route, status)
    )


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_body_over_limit_is_413(api: TestClient, path: str) -> None:
    big = b'{"x": "' + b"a" * (2 << 20) + b'"}'
    before = _requests_counted(api, path, "413")
    body = _assert_clean_error(
        api.post(path, content=big, headers={"content-type": "application/json"}), 413
    )
    assert "MAX_BODY_BYTES" in body["message"]
    assert _requests_counted(api, path, "413") == before + 1  # its route, not "unmatched"


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_chunked_body_over_limit_is_413(api: TestClient, path: str) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"a" * 65536

    response = api.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _assert_clean_error(response, 413)


def test_empty_batch_is_rejected(api: TestClient) -> None:
    _assert_clean_error(api.post("/predict/batch", json={"instances": []}), 422, "instances")


def test_batch_over_limit_is_rejected(trained: Path) -> None:
    from petalflow.serving.app import create_app
    from tests.conftest import make_settings

    with TestClient(create_app(make_settings(trained, max_batch_rows=3))) as small:
        body = _assert_clean_error(
            small.post("/predict/batch", json={"instances": [GOOD] * 4}), 413
        )
        assert "MAX_BATCH_ROWS" in body["message"]
        assert small.post("/predict/batch", json={"instances": [GOOD] * 3}).status_code == 200


def test_batch_row_errors_name_the_row_and_field(api: TestClient) -> None:
    rows = [GOOD, {**GOOD, "petal_width": -1}]
    body = _assert_clean_error(api.post("/predict/batch", json={"instances": rows}), 422)
    assert body["details"][0]["field"] == "instances.1.petal_width"
    assert body["details"][0]["rule"] == "greater_than"


@pytest.mark.parametrize(
    ("header", "kept"),
    [("abc-123_X.y", True), ("a" * 128, True), ("a" * 129, False), ("bad id!", False), ("", False)],
)
def test_request_id_is_echoed_when_sane_else_generated(
    api: TestClient, header: str, kept: bool
) -> None:
    response = api.post("/predict", json=GOOD, headers={"x-request-id": header})
    echoed = response.headers["x-request-id"]
    assert (echoed == header) is kept
    assert 1 <= len(echoed) <= 128


def test_request_id_appears_in_error_bodies(api: TestClient) -> None:
    for response in (
        api.post("/predict", json={}, headers={"x-request-id": "rid-422"}),
        api.post(
            "/predict",
            content=b"x",
            headers={"x-request-id": "rid-415", "content-type": "text/plain"},
        ),
        api.post(
            "/predict",
            content=b"a" * (2 << 20),
            headers={"x-request-id": "rid-413", "content-type": "application/json"},
        ),
        api.get("/nowhere", headers={"x-request-id": "rid-404"}),
    ):
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert response.json()["request_id"].startswith("rid-")


def test_request_log_line_is_json_with_request_fields(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="petalflow.access"):
        api.post("/predict", json=GOOD, headers={"x-request-id": "log-me"})
    records = [
        r
        for r in caplog.records
        if r.name == "petalflow.access" and r.fields["request_id"] == "log-me"
    ]  # type: ignore[attr-defined]
    assert len(records) == 1
    fields = records[0].fields  # type: ignore[attr-defined]
    assert fields["method"] == "POST" and fields["path"] == "/predict" and fields["status"] == 200
    assert fields["latency_ms"] >= 0
    assert fields["model_version"] == api.get("/model").json()["model_version"]
    from petalflow.observability.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "log-me" and line["status"] == 200


def test_unknown_route_and_method_use_error_format(api: TestClient) -> None:
    _assert_clean_error(api.get("/nowhere"), 404)
    _assert_clean_error(api.get("/predict"), 405)


def test_openapi_documents_request_bodies(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]

    def body(path: str) -> dict[str, Any]:
        request = paths[path]["post"]["requestBody"]
        assert request["required"] is True
        return request["content"]["application/json"]["schema"]

    row = body("/predict")
    assert row["title"] == "PredictRequest"
    description = paths["/predict"]["post"]["description"]
    assert description.endswith(
        "of one row. Every feature is a JSON number inside the contract's bounds. "
        "Every feature is required; unknown fields are refused."
    )
    assert list(row["properties"]) == list(FEATURE_NAMES)
    assert row["required"] == list(FEATURE_NAMES)
    for prop in row["properties"].values():  # the contract's bounds
        assert (prop["exclusiveMinimum"], prop["maximum"]) == (0, 100)
    rows, columnar = body("/predict/batch")["oneOf"]
    assert rows["properties"]["instances"]["items"] == row
    assert columnar["required"] == ["columns", "data"]
    assert columnar["properties"]["columns"]["items"]["enum"] == list(FEATURE_NAMES)
    assert columnar["examples"][0]["columns"] == list(FEATURE_NAMES)
    assert set(body("/feedback")["properties"]) == {"request_id", "true_label"}
    assert body("/invocations")["type"] == "object"


def test_model_reports_prediction_path(api: TestClient, api_sklearn: TestClient) -> None:
    assert api.get("/model").json()["fast_path"] is True
    assert api_sklearn.get("/model").json()["fast_path"] is False


ERROR_CASES = [
    pytest.param(
        "POST", "/predict", b'{"sepal_length": 5.1}', "application/json", 422, id="missing"
    ),
    pytest.param(
        "POST",
        "/predict",
        json.dumps({**GOOD, "petal_width": "0.2"}).encode(),
        "application/json",
        422,
        id="string",
    ),
    pytest.param("POST", "/predict", b"{", "application/json", 400, id="malformed"),
    pytest.param(
        "POST", "/predict", b'{"a": 1, "a": 2}', "application/json", 422, id="duplicate-key"
    ),
    pytest.param("POST", "/predict", json.dumps(GOOD).encode(), "text/plain", 415, id="text-plain"),
    pytest.param("POST", "/predict", b"x" * (2 << 20), "application/json", 413, id="too-large"),
    pytest.param(
        "POST", "/predict/batch", b'{"instances": []}', "application/json", 422, id="batch"
    ),
    pytest.param("POST", "/invocations", b'{"nope": 1}', "application/json", 400, id="invocations"),
    pytest.param(
        "POST",
        "/feedback",
        b'{"request_id": "x", "true_label": "setosa"}',
        "application/json",
        503,
        id="feedback-no-log",
    ),
    pytest.param("GET", "/predict", b"", "", 405, id="get-predict"),
    pytest.param(
        "POST", "/predict/", json.dumps(GOOD).encode(), "application/json", 404, id="slash"
    ),
    pytest.param("GET", "/nowhere", b"", "", 404, id="unknown-path"),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type", "status"), ERROR_CASES)
def test_every_route_error_comes_from_the_one_mapping(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    from petalflow.serving import http_errors

    real = http_errors.error_content

    def marked(
        error: str, message: str, request_id: str, details: Any = None, mlflow_code: Any = None
    ) -> bytes:
        return real(error, f"[mapped] {message}", request_id, details, mlflow_code)

    monkeypatch.setattr(http_errors, "error_content", marked)
    headers = (
        {"content-type": content_type, "x-request-id": "one-mapping"}
        if content_type
        else {"x-request-id": "one-mapping"}
    )
    response = api.request(method, path, content=body or None, headers=headers)
    assert response.status_code == status
    payload = response.json()
    assert payload["message"].startswith("[mapped] ")
    assert payload["request_id"] == "one-mapping"
    mlflow = {"error_code"} if path == "/invocations" else set()
    assert set(payload) == {"error", "message", "details", "request_id", *mlflow}


def test_get_predict_says_to_use_post(api: TestClient) -> None:
    response = api.get("/predict")
    assert response.status_code == 405
    assert "use POST" in response.json()["message"]


def test_predict_with_trailing_slash_names_the_route(api: TestClient) -> None:
    response = api.post("/predict/", json=GOOD)
    assert response.status_code == 404
    assert "did you mean /predict?" in response.json()["message"]


@pytest.mark.parametrize("path", ["/docs-static/", "/nowhere/"])
def test_a_404_names_no_route_that_does_not_exist(api: TestClient, path: str) -> None:
    # /docs-static serves files below it; /docs-static itself is no endpoint
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["message"] == f"no endpoint at {path} (see /docs)"


def test_a_404_shortens_a_long_path(api: TestClient) -> None:
    response = api.get("/" + "a" * 8000)
    assert response.status_code == 404
    assert response.json()["message"] == f"no endpoint at /{'a' * 99}... (see /docs)"


def _row(*repeats: tuple[str, float]) -> str:
    """GOOD as JSON text, then the repeated keys (a dict cannot hold them)."""
    pairs = [*GOOD.items(), *repeats]
    return "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}"


def _rows(bad: str, at: int = 3, n: int = 5) -> str:
    return "[" + ", ".join(bad if i == at else _row() for i in range(n)) + "]"


FLIPPED = _row(("sepal_length", 7.7))  # last-wins would turn this setosa into another class
SPLIT = '"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"]'
DUPLICATE_CASES = [
    pytest.param("/predict", FLIPPED, "sepal_length", id="predict"),
    pytest.param("/predict", _row(("sepal_length", 5.1)), "sepal_length", id="predict-same"),
    pytest.param(
        "/predict", _row(("petal_width", 0.2), ("petal_width", 9)), "petal_width", id="3x"
    ),
    pytest.param(
        "/predict/batch", f'{{"instances": {_rows(FLIPPED)}}}', "instances.3.sepal_length", id="b"
    ),
    pytest.param(
        "/predict/batch",
        f'{{"instances": {_rows(_row(("petal_width", 0.2)))}}}',
        "instances.3.petal_width",
        id="batch-same",
    ),
    pytest.param(
        "/predict/batch",
        f'{{"instances": [{_row()}], "instances": [{FLIPPED}]}}',
        "instances",
        id="batch-top",
    ),
    pytest.param(
        "/predict/batch",
        f'{{{SPLIT}, "data": [[5.1, 3.5, 1.4, 0.2]], "data": [[7.7, 3.5, 1.4, 0.2]]}}',
        "data",
        id="batch-columnar",
    ),
    *[
        pytest.param(
            "/invocations", f'{{"{key}": {_rows(FLIPPED)}}}', f"{key}.3.sepal_length", id=key
        )
        for key in ("dataframe_records", "instances", "inputs")
    ],
    pytest.param(
        "/invocations",
        '{"inputs": {"sepal_length": [5.1], "sepal_length": [7.7], "sepal_width": [3.5], '
        '"petal_length": [1.4], "petal_width": [0.2]}}',
        "inputs.sepal_length",
        id="inputs-columns",
    ),
    pytest.param(
        "/invocations",
        f'{{"dataframe_split": {{{SPLIT}, "data": [[5.1, 3.5, 1.4, 0.2]], '
        '"data": [[7.7, 3.5, 1.4, 0.2]]}}',
        "dataframe_split.data",
        id="dataframe_split",
    ),
    pytest.param(
        "/invocations",
        '{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", '
        '"petal_width", "sepal_length"], "data": [[5.1, 3.5, 1.4, 0.2, 7.7]]}}',
        "dataframe_split.columns",
        id="dataframe_split-column",
    ),
    pytest.param(
        "/invocations",
        f'{{"instances": [{_row()}], "params": {{"k": 1, "k": 2}}}}',
        "params.k",
        id="params",
    ),
    pytest.param(
        "/feedback",
        '{"request_id": "a:0", "true_label": "setosa", "request_id": "b:0"}',
        "request_id",
        id="feedback",
    ),
]


@pytest.mark.parametrize(("path", "raw", "field"), DUPLICATE_CASES)
def test_duplicate_key_is_rejected_naming_its_path(
    api: TestClient, path: str, raw: str, field: str
) -> None:
    response = api.post(path, content=raw, headers={"content-type": "application/json"})
    body = _assert_clean_error(response, 400 if path == "/invocations" else 422, field)
    assert body["error"] == "duplicate_key"
    assert body["details"][0]["field"] == field
    assert body["details"][0]["rule"] == "duplicate_key"
    assert "send each" in body["details"][0]["message"]
    assert body["message"].startswith("invalid request: ")


ORDINARY_BODIES = [
    pytest.param("/predict", GOOD, id="predict"),
    pytest.param("/predict/batch", {"instances": [GOOD] * 3}, id="batch"),
    pytest.param(
        "/predict/batch",
        {"columns": list(GOOD), "data": [list(GOOD.values())] * 3},
        id="batch-columnar",
    ),
    *[
        pytest.param("/invocations", {key: [GOOD] * 3}, id=key)
        for key in ("dataframe_records", "instances", "inputs")
    ],
    pytest.param("/invocations", {"inputs": {k: [v] for k, v in GOOD.items()}}, id="columns"),
    pytest.param(
        "/invocations",
        {"dataframe_split": {"columns": list(GOOD), "data": [list(GOOD.values())]}},
        id="dataframe_split",
    ),
]


@pytest.mark.parametrize(("path", "payload"), ORDINARY_BODIES)
def test_ordinary_body_skips_the_precise_duplicate_check(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, path: str, payload: Any
) -> None:
    from petalflow.serving import duplicate_keys

    def never(body: bytes) -> list[tuple[str, int]]:
        raise AssertionError("the precise duplicate check ran")

    monkeypatch.setattr(duplicate_keys, "repeated_keys", never)
    response = api.post(path, json=payload)
    assert response.status_code == 200, response.text
    assert "setosa" in response.text


@pytest.mark.parametrize(
    ("path", "raw", "status", "error"),
    [
        pytest.param(
            "/invocations",
            f'{{"instances": [{_row()}], "params": {{"at": "12:00:00", "tz": "+01:00"}}}}',
            200,
            None,
            id="invocations-params",
        ),
        pytest.param(
            "/predict/batch",
            '{"instances": [{"sepal_length": "5:1", "sepal_width": 3.5, "petal_length": 1.4, '
            '"petal_width": 0.2}]}',
            422,
            "validation_error",
            id="batch-string",
        ),
        pytest.param(  # parsed and checked; monitoring is off in this app
            "/feedback",
            '{"request_id": "abc:0", "true_label": "setosa"}',
            503,
            "monitoring_disabled",
            id="feedback",
        ),
    ],
)
def test_colon_inside_a_string_is_not_a_duplicate_key(
    api: TestClient, path: str, raw: str, status: int, error: str | None
) -> None:
    response = api.post(path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    if error is not None:
        assert response.json()["error"] == error


def test_app_freezes_the_start_up_heap_and_unfreezes_it_at_shutdown(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from petalflow.serving.app import create_app
    from tests.conftest import make_settings, wait_for_fast_path

    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: calls.append(f"collect{generation}"))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    with TestClient(create_app(make_settings(trained))) as client:
        assert calls[:2] == ["collect1", "freeze"]  # young generations only: no full pass
        assert client.get("/health").status_code == 200
        wait_for_fast_path(client.get)  # adopted after start-up: the heap frozen again
        assert calls == ["collect1", "freeze"] * 2
    assert calls == ["collect1", "freeze", "collect1", "freeze", "unfreeze"]


def test_ping_and_version_answer_as_mlflow_models_serve(api: TestClient) -> None:
    from importlib import metadata

    ping = api.get("/ping")
    assert (ping.status_code, ping.content) == (200, b"\n")
    assert ping.headers["content-type"] == "application/json"
    version = api.get("/version")
    assert (version.status_code, version.text) == (200, metadata.version("mlflow"))


def test_invocations_scores_csv_and_counts_ignored_columns_in_metrics(api: TestClient) -> None:
    def ignored() -> float:
        text = api.get("/metrics").text
        line = 'petalflow_invocations_ignored_inputs_total{kind="column"} '
        return sum(float(r.split()[-1]) for r in text.splitlines() if r.startswith(line))

    before = ignored()
    csv = "id,sepal_length,sepal_width,petal_length,petal_width\n1,5.1,3.5,1.4,0.2\n"
    response = api.post(
        "/invocations", content=csv, headers={"content-type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": ["setosa"]}
    assert ignored() == before + 1


CSV_HEADER = ",".join(GOOD) + "\n"


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ("6.0,3.0,4.5,True\n", "csv.0.petal_width"),
        ("6.0,3.0,4.5,true\n", "csv.0.petal_width"),
        ("False,3.0,4.5,1.5\n", "csv.0.sepal_length"),
        ("6.0,3.0,4.5,1.5\n6.0,3.0,4.5,FALSE\n", "csv.1.petal_width"),
    ],
    ids=["True", "true", "False", "mixed"],
)
def test_invocations_refuses_csv_booleans_for_number_features(
    api: TestClient, rows: str, field: str
) -> None:
    response = api.post(
        "/invocations", content=CSV_HEADER + rows, headers={"content-type": "text/csv"}
    )
    body = _assert_clean_error(response, 400, field)
    assert (body["error"], body["error_code"]) == ("validation_error", "BAD_REQUEST")
    detail = body["details"][0]
    assert (detail["field"], detail["rule"]) == (field, "float_type")


def test_invocations_refuses_a_csv_header_that_repeats_a_column(api: TestClient) -> None:
    csv = CSV_HEADER.replace("\n", ",petal_length\n") + "5.1,3.5,1.4,0.2,6.0\n"
    response = api.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    body = _assert_clean_error(response, 400, "petal_length")
    assert (body["error"], body["error_code"]) == ("duplicate_key", "INVALID_PARAMETER_VALUE")
    assert body["details"][0]["rule"] == "duplicate_key"
    assert "petal_length appears twice in the CSV header" in body["message"]


def test_invocations_scores_a_csv_column_named_like_pandas_renames_a_repeat(
    api: TestClient,
) -> None:
    csv = CSV_HEADER.replace("\n", ",petal_length.1\n") + "5.1,3.5,1.4,0.2,6.0\n"
    response = api.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": ["setosa"]}


def test_invocations_errors_carry_mlflows_error_code(api: TestClient) -> None:
    response = api.post("/invocations", json={"inputs": [list(GOOD.values())]})
    body = _assert_clean_error(response, 400)
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "stack_trace" not in body


def test_app_answers_with_scikit_learn_until_its_fast_path_is_verified(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from petalflow.serving.app import create_app
    from petalflow.serving.lifecycle.verifier import StartupVerifier
    from petalflow.serving.loading import LoadedModel
    from tests.conftest import make_settings, pipeline_answer, wait_for_fast_path

    release, pipeline_calls = threading.Event(), []
    verified, proba = StartupVerifier._verified, LoadedModel.pipeline_proba

    def held(self: StartupVerifier) -> Any:  # the worker thread waits to be released
        assert release.wait(60)
        return verified(self)

    def counted(self: LoadedModel, rows: np.ndarray) -> np.ndarray:
        pipeline_calls.append(len(rows))
        return proba(self, rows)

    monkeypatch.setattr(StartupVerifier, "_verified", held)
    monkeypatch.setattr(LoadedModel, "pipeline_proba", counted)
    want = pipeline_answer(trained, GOOD)
    with TestClient(create_app(make_settings(trained))) as client:
        try:
            assert client.get("/health").status_code == 200
            assert client.get("/model").json()["fast_path"] is False
            warmed = len(pipeline_calls)  # start-up's warm-up went through scikit-learn
            before = client.post("/predict", json=GOOD).json()["class_probabilities"]
            assert pipeline_calls[warmed:] == [1]
        finally:
            release.set()
        wait_for_fast_path(client.get)
        after = client.post("/predict", json=GOOD).json()["class_probabilities"]
        assert pipeline_calls[warmed:] == [1]  # the fast path answered
    assert warmed == 2
    assert before == pytest.approx(want, abs=1e-12)
    assert after == pytest.approx(want, abs=1e-12)


def test_app_keeps_scikit_learn_when_the_verification_fails(
    trained: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    from petalflow.serving.app import create_app
    from petalflow.serving.predictor import Predictor
    from tests.conftest import make_settings, pipeline_answer

    def fails(self: Predictor) -> Any:  # raised in the child, reported by the server
        raise RuntimeError("no memory for the tables")

    monkeypatch.setattr(Predictor, "verified_fast_path", fails)
    message = "was not verified (RuntimeError: no memory for the tables); scikit-learn answers"
    with caplog.at_level("WARNING"), TestClient(create_app(make_settings(trained))) as client:
        deadline = time.monotonic() + 60
        while message not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.01)
        answer = client.post("/predict", json=GOOD)
        model = client.get("/model").json()
    assert answer.status_code == 200
    assert answer.json()["class_probabilities"] == pytest.approx(
        pipeline_answer(trained, GOOD), abs=1e-12
    )
    assert model["fast_path"] is False
    assert "Traceback" not in caplog.text


def test_predict_with_thousands_of_unknown_keys_gets_a_bounded_error(api: TestClient) -> None:
    body = {**GOOD, **{f"x{i}": 1 for i in range(5000)}}
    response = api.post("/predict", json=body)
    assert response.status_code == 422
    answer = response.json()
    assert len(answer["details"]) == 50  # as docs/serving.md says
    assert answer["message"].endswith(f"; and {5000 - 5} more")
