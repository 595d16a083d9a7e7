"""The shadow in the app: start-up checks, /monitoring/shadow, and answers the clients
get unchanged (in process; tests/e2e/test_shadow_e2e.py runs it on uvicorn)."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from petalflow.core.errors import ShadowError
from petalflow.serving.app import create_app
from tests.conftest import make_settings, train_into

ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2},
    {"sepal_length": 6.3, "sepal_width": 2.8, "petal_length": 5.1, "petal_width": 1.5},
    {"sepal_length": 6.0, "sepal_width": 2.2, "petal_length": 5.0, "petal_width": 1.5},
]


def runs_uri(artifacts: Path) -> str:
    return f"runs:/{json.loads((artifacts / 'model_info.json').read_text())['run_id']}/model"


def test_monitoring_shadow_without_a_shadow_is_a_clear_404(api: TestClient) -> None:
    response = api.get("/monitoring/shadow")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert "set SHADOW_MODEL_URI" in body["message"] and body["request_id"]


def test_a_shadow_without_the_prediction_log_refuses_to_start(
    trained: Path, trained_rf: Path
) -> None:
    settings = make_settings(trained, shadow_model_uri=runs_uri(trained_rf))
    with (
        pytest.raises(ShadowError, match="SHADOW_MODEL_URI needs the prediction log"),
        TestClient(create_app(settings)),
    ):
        pass


def _starts_without_a_shadow(settings: Any, caplog: pytest.LogCaptureFixture) -> str:
    """Start the app, check it serves without a shadow; its ERROR line."""
    with caplog.at_level(logging.INFO, logger="petalflow"), TestClient(create_app(settings)) as c:
        answer = c.post("/predict", json=ROWS[0])
        assert answer.status_code == 200
        assert c.get("/model").json()["shadow"] is None
        report = c.get("/monitoring/shadow")
        assert report.status_code == 503
        assert report.json()["error"] == "shadow_not_loaded"
        assert "the server log says why" in report.json()["message"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    return errors[0]


# Trained in fixtures: train.py's logging set-up (basicConfig(force=True)) would remove
# caplog's handler for the rest of a test.
@pytest.fixture
def penguins(tmp_path: Path) -> Path:
    return train_into(tmp_path / "penguins", "--dataset", "penguins")


@pytest.fixture
def no_challenger(tmp_path: Path, tracking_uri: str) -> tuple[str, Path]:
    """A registered model with a champion, and a version 2 no alias names."""
    name = "iris-no-challenger"
    train_into(tmp_path / "v1", "--register-model", name, "--alias", "champion")
    return name, train_into(tmp_path / "v2", "--register-model", name, "--C", "10")


def test_a_shadow_of_other_features_leaves_the_server_serving_without_one(
    trained: Path, penguins: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = runs_uri(penguins)
    settings = make_settings(trained, prediction_log=str(tmp_path / "p.db"), shadow_model_uri=uri)
    error = _starts_without_a_shadow(settings, caplog)
    assert error.startswith(f"serving without a shadow: {uri} cannot be used (")
    assert "the served model's features are ['sepal_length'" in error
    assert error.endswith("restart the server once it can be loaded")  # a fixed URI


def test_a_shadow_alias_that_is_gone_is_followed_once_it_is_back(
    no_challenger: tuple[str, Path],
    tmp_path: Path,
    tracking_uri: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A worker respawned after `rollback` removed @challenger must start (a worker that
    # fails to start stops every worker of `uvicorn --workers N`).
    name, two = no_challenger
    settings = make_settings(
        tmp_path / "unused",
        model_uri=f"models:/{name}@champion",
        shadow_model_uri=f"models:/{name}@challenger",
        prediction_log=str(tmp_path / "p.db"),
        reload_interval=0.1,
    )
    with caplog.at_level(logging.INFO, logger="petalflow"), TestClient(create_app(settings)) as c:
        assert c.get("/model").json()["shadow"] is None
        assert c.get("/monitoring/shadow").status_code == 503
        MlflowClient(tracking_uri).set_registered_model_alias(name, "challenger", "2")
        deadline = time.monotonic() + 60
        while c.get("/model").json()["shadow"] is None:
            assert time.monotonic() < deadline, "the shadow never followed its alias"
            time.sleep(0.1)
        c.post("/predict", json=ROWS[1], headers={"X-Request-ID": "shadowed"})
        report = c.get("/monitoring/shadow").json()
    run_two = json.loads((two / "model_info.json").read_text())["run_id"]
    assert report["shadow_version"] == run_two and report["rows_compared"] == 1
    error = next(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert error.startswith(f"serving without a shadow: models:/{name}@challenger cannot")
    assert error.endswith(
        "it is checked again every 0.1 s (a version that fails again, every 2 minutes)"
    )


@pytest.mark.parametrize("sample", [-0.1, 1.5])
def test_shadow_sample_outside_0_to_1_is_refused(trained: Path, sample: float) -> None:
    with pytest.raises(ValueError, match="shadow_sample"):
        make_settings(trained, shadow_sample=sample)


def test_with_a_shadow_clients_get_the_served_models_answers(
    trained: Path, trained_rf: Path, tmp_path: Path
) -> None:
    plain = make_settings(trained, prediction_log=str(tmp_path / "plain.db"))
    shadowed = make_settings(
        trained, prediction_log=str(tmp_path / "p.db"), shadow_model_uri=runs_uri(trained_rf)
    )
    answers = []
    for settings in (plain, shadowed):
        with TestClient(create_app(settings)) as client:
            one = client.post("/predict", json=ROWS[1], headers={"X-Request-ID": "one"}).json()
            batch = client.post("/predict/batch", json={"instances": ROWS}).json()
            answers.append((one, batch))
            shadow = client.get("/monitoring/shadow") if settings is shadowed else None
    for plain_answer, shadowed_answer in zip(*answers, strict=True):
        plain_answer.pop("latency_ms"), shadowed_answer.pop("latency_ms")
        assert shadowed_answer == plain_answer
    assert shadow is not None and shadow.status_code == 200
    report = shadow.json()
    assert report["primary_version"] == answers[1][0]["model_version"]
    assert report["shadow_version"] == runs_uri(trained_rf).split("/")[1]
    assert report["rows_compared"] == 1 + len(ROWS)


def test_model_names_the_shadow_beside_the_served_model(
    api: TestClient, trained: Path, trained_rf: Path, tmp_path: Path
) -> None:
    assert api.get("/model").json()["shadow"] is None
    settings = make_settings(
        trained, prediction_log=str(tmp_path / "p.db"), shadow_model_uri=runs_uri(trained_rf)
    )
    with TestClient(create_app(settings)) as client:
        body = client.get("/model").json()
    run_id = json.loads((trained_rf / "model_info.json").read_text())["run_id"]
    assert body["shadow"]["model_version"] == run_id
    assert body["shadow"]["source"] == runs_uri(trained_rf)
    assert body["model_version"] != run_id


def test_a_reload_the_shadow_cannot_follow_is_refused_and_both_keep_serving(
    trained: Path, trained_rf: Path, tmp_path: Path
) -> None:
    served = Path(shutil.copytree(trained, tmp_path / "served"))
    old = json.loads((served / "model_info.json").read_text())["run_id"]
    settings = make_settings(
        served, prediction_log=str(tmp_path / "p.db"), shadow_model_uri=runs_uri(trained_rf)
    )
    with TestClient(create_app(settings)) as client:
        train_into(served, "--dataset", "penguins")  # other features than the shadow's
        answer = client.post("/admin/reload").json()
        assert (answer["outcome"], answer["model_version"]) == ("refused", old)
        assert client.post("/predict", json=ROWS[0]).json()["model_version"] == old
        assert client.get("/model").json()["shadow"]["source"] == runs_uri(trained_rf)


def test_the_shadow_follows_its_alias_like_the_served_model(
    tmp_path: Path, tracking_uri: str
) -> None:
    name, rf = "iris-shadowed", ("--model", "rf", "--n-estimators", "20", "--max-depth", "2")
    train_into(tmp_path / "v1", "--register-model", name, "--alias", "champion")
    two = train_into(tmp_path / "v2", *rf, "--register-model", name, "--alias", "challenger")
    three = train_into(tmp_path / "v3", *rf, "--seed", "7", "--register-model", name)
    settings = make_settings(
        tmp_path / "unused",
        model_uri=f"models:/{name}@champion",
        shadow_model_uri=f"models:/{name}@challenger",
        prediction_log=str(tmp_path / "p.db"),
        reload_interval=0.1,
    )
    run_of = {d: json.loads((d / "model_info.json").read_text())["run_id"] for d in (two, three)}
    with TestClient(create_app(settings)) as client:
        shadow = client.get("/model").json()["shadow"]
        assert shadow["model_version"] == run_of[two]
        assert shadow["registered_model"] == {"name": name, "version": "2", "alias": "challenger"}
        MlflowClient(tracking_uri).set_registered_model_alias(name, "challenger", "3")
        deadline = time.monotonic() + 60
        while client.get("/model").json()["shadow"]["model_version"] != run_of[three]:
            assert time.monotonic() < deadline, "the shadow never followed its alias"
            time.sleep(0.1)
        client.post("/predict", json=ROWS[2], headers={"X-Request-ID": "after"})
        report = client.get("/monitoring/shadow").json()
    assert report["shadow_version"] == run_of[three]
