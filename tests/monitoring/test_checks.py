"""Monitoring through the ASGI app: prediction log, drift, feedback, /metrics, the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from petalflow.monitoring.checks import Monitor, open_log
from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader
from petalflow.serving.app import create_app
from petalflow.serving.loading import load_model
from petalflow.training.data import FEATURE_NAMES, load_dataset
from tests.conftest import ROOT, make_settings


@pytest.fixture()
def monitored(trained: Path, tmp_path: Path) -> Iterator[TestClient]:
    """An app with a prediction log in tmp_path."""
    settings = make_settings(trained, prediction_log=str(tmp_path / "predictions.db"))
    with TestClient(create_app(settings)) as client:
        yield client


def traffic(seed: int, n: int = 500, shift: float = 0.0) -> list[dict[str, float]]:
    """Rows drawn with replacement from the whole Iris data; petal_length shifted."""
    X, _ = load_dataset()
    rows = X.to_numpy()[np.random.default_rng(seed).integers(0, len(X), n)].copy()
    rows[:, FEATURE_NAMES.index("petal_length")] += shift
    return [dict(zip(FEATURE_NAMES, r, strict=True)) for r in rows.tolist()]


def send(client: TestClient, rows: list[dict[str, float]], request_id: str) -> dict[str, Any]:
    response = client.post(
        "/predict/batch", json={"instances": rows}, headers={"x-request-id": request_id}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_drift_unshifted_traffic_raises_no_alert(monitored: TestClient) -> None:
    statuses = []
    for seed in range(20):
        send(monitored, traffic(seed), f"seed-{seed}")
        report = monitored.get("/monitoring/drift").json()
        assert report["window_size"] == 500
        statuses.append(report["status"])
    assert sum(s == "alert" for s in statuses) <= 1, statuses


def test_drift_shifted_petal_length_alerts(monitored: TestClient) -> None:
    send(monitored, traffic(0, shift=2.0), "shifted")
    report = monitored.get("/monitoring/drift").json()
    assert report["status"] == "alert"
    assert report["features"]["petal_length"]["status"] == "alert"
    assert report["features"]["sepal_width"]["status"] != "alert"


def test_drift_with_too_few_samples_gives_no_verdict(monitored: TestClient) -> None:
    send(monitored, traffic(0, n=20), "few")
    report = monitored.get("/monitoring/drift").json()
    assert report["status"] == "insufficient_data"
    assert report["window_size"] == 20


def _predict(client: TestClient, row: dict[str, float], request_id: str) -> str:
    response = client.post("/predict", json=row, headers={"x-request-id": request_id})
    assert response.status_code == 200
    return str(response.json()["predicted_label"])


def test_feedback_wrong_labels_raise_performance_alert(monitored: TestClient) -> None:
    rows = traffic(1, n=40)
    classes = ["setosa", "versicolor", "virginica"]
    for i, row in enumerate(rows):
        predicted = _predict(monitored, row, f"fb-{i}")
        # The first 20 get their predicted label, the last 20 a wrong one.
        label = predicted if i < 20 else classes[(classes.index(predicted) + 1) % 3]
        response = monitored.post("/feedback", json={"request_id": f"fb-{i}", "true_label": label})
        assert response.status_code == 200, response.text
        assert response.json()["correct"] is (i < 20)
        if i == 19:
            good = monitored.get("/monitoring/performance").json()
            assert good["status"] == "ok" and good["live"]["accuracy"] == 1.0
    report = monitored.get("/monitoring/performance").json()
    assert report["n_labelled"] == 40
    assert report["live"]["accuracy"] == pytest.approx(0.5)
    assert report["status"] == "alert"
    assert report["training"]["accuracy"] > 0.9


def test_feedback_unknown_duplicate_and_bad_label(monitored: TestClient) -> None:
    _predict(monitored, traffic(2, n=1)[0], "once")
    assert (
        monitored.post("/feedback", json={"request_id": "nope", "true_label": "setosa"}).status_code
        == 404
    )
    assert (
        monitored.post("/feedback", json={"request_id": "once", "true_label": "rose"}).status_code
        == 422
    )
    assert (
        monitored.post("/feedback", json={"request_id": "once", "true_label": "setosa"}).status_code
        == 200
    )
    conflict = monitored.post("/feedback", json={"request_id": "once", "true_label": "setosa"})
    assert conflict.status_code == 409
    assert "already labelled" in conflict.json()["message"]


def test_feedback_reaches_batch_rows_by_index(monitored: TestClient) -> None:
    send(monitored, traffic(3, n=3), "b")
    assert (
        monitored.post("/feedback", json={"request_id": "b:2", "true_label": "setosa"}).status_code
        == 200
    )


def test_prediction_log_survives_restart(trained: Path, tmp_path: Path) -> None:
    settings = make_settings(trained, prediction_log=str(tmp_path / "p.db"))
    with TestClient(create_app(settings)) as first:
        send(first, traffic(4, n=150), "before")
        _predict(first, traffic(5, n=1)[0], "kept")
    with TestClient(create_app(settings)) as second:
        assert second.get("/monitoring/drift").json()["window_size"] == 151
        assert (
            second.post(
                "/feedback", json={"request_id": "kept", "true_label": "setosa"}
            ).status_code
            == 200
        )
        assert second.get("/monitoring/performance").json()["n_labelled"] == 1


def test_prediction_log_is_written_when_the_loop_writer_fails(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: PredictionLog) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(PredictionLog, "write_from_loop", broken)
    settings = make_settings(trained, prediction_log=str(tmp_path / "p.db"))
    with TestClient(create_app(settings)) as client:
        for i, row in enumerate(traffic(6, n=20)):
            _predict(client, row, f"r{i}")
    # Shut down cleanly: the failure is logged, and the thread wrote every prediction.
    assert "event-loop writer failed" in caplog.text
    with PredictionLog(tmp_path / "p.db") as log:
        assert log.count() == 20


def test_open_log_returns_an_unstarted_log(trained: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    log = open_log(make_settings(trained, prediction_log=str(path), prediction_log_max_rows=5000))
    assert isinstance(log, PredictionLog) and log.path == path
    assert not path.exists()  # the server's lifespan calls start()
    with pytest.raises(RuntimeError, match="not started"):
        log.count()
    assert open_log(make_settings(trained, prediction_log="")) is None


def test_monitor_record_logs_a_request_and_the_reader_reports_it(
    trained: Path, tmp_path: Path
) -> None:
    model = load_model(None, trained)
    settings = make_settings(trained, prediction_log=str(tmp_path / "p.db"))
    X, _ = load_dataset()
    rows = X.to_numpy()[np.random.default_rng(9).integers(0, len(X), 300)]
    proba = model.pipeline_proba(rows)
    labels = [model.class_names[i] for i in proba.argmax(axis=1)]
    with PredictionLog(tmp_path / "p.db") as log:
        monitor = Monitor(model, log, settings)
        monitor.record("batch", rows, labels, proba)
        monitor.record("one", rows[:1].tolist(), labels[:1], proba[:1].tolist())
        assert monitor.feedback("one", labels[0])["correct"] is True
        assert log.count(model.model_version) == 301
        assert log.predicted_label("batch:299") == labels[299]
    with PredictionLogReader(tmp_path / "p.db") as reader:
        offline = Monitor(model, reader, settings)
        report = offline.drift()
        assert report["window_size"] == 301 and report["status"] != "insufficient_data"
        assert offline.performance()["n_labelled"] == 1
        offline.record("ignored", rows[:1], labels[:1], proba[:1])  # a reader: nothing queued
        assert reader.count() == 301
        with pytest.raises(TypeError, match="a reader cannot write"):
            offline.feedback("batch:0", labels[0])


def test_monitoring_without_log_is_503(api: TestClient) -> None:
    response = api.get("/monitoring/drift")
    assert response.status_code == 503
    assert "PREDICTION_LOG" in response.json()["message"]


FAMILIES = {
    "petalflow_requests",
    "petalflow_request_latency_seconds",
    "petalflow_predictions",
    "petalflow_model_info",
    "petalflow_feature_drift_psi",
    "petalflow_feature_drift_ks_pvalue",
    "petalflow_drift_status",
    "petalflow_live_accuracy",
    "petalflow_live_f1_macro",
    "petalflow_labelled_predictions",
}


def scrape(client: TestClient) -> dict[str, Any]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def sample_value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in families[family].samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_carry_every_family_and_count_requests(monitored: TestClient) -> None:
    version = monitored.get("/model").json()["model_version"]
    for i, row in enumerate(traffic(6, n=120)):
        _predict(monitored, row, f"m-{i}")
    monitored.post("/predict", json={"sepal_length": "x"})
    families = scrape(monitored)
    assert set(families) >= FAMILIES
    assert (
        sample_value(
            families,
            "petalflow_requests",
            "petalflow_requests_total",
            route="/predict",
            status="200",
        )
        == 120
    )
    assert (
        sample_value(
            families,
            "petalflow_requests",
            "petalflow_requests_total",
            route="/predict",
            status="422",
        )
        == 1
    )
    assert (
        sample_value(
            families, "petalflow_predictions", "petalflow_predictions_total", model_version=version
        )
        == 120
    )
    assert (
        sample_value(
            families,
            "petalflow_request_latency_seconds",
            "petalflow_request_latency_seconds_count",
            route="/predict",
        )
        == 121
    )
    assert (
        sample_value(
            families, "petalflow_model_info", "petalflow_model_info", model_version=version
        )
        == 1
    )
    psi = {s.labels["feature"]: s.value for s in families["petalflow_feature_drift_psi"].samples}
    assert set(psi) == set(FEATURE_NAMES)


def _fill_log(trained: Path, log: Path, shift: float) -> None:
    with TestClient(create_app(make_settings(trained, prediction_log=str(log)))) as client:
        send(client, traffic(7, shift=shift), "cli")


def run_monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "petalflow.monitor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("shift", "expected"), [(0.0, 0), (2.0, 1)])
def test_monitor_cli_exit_status(
    trained: Path, tmp_path: Path, shift: float, expected: int
) -> None:
    log = tmp_path / "p.db"
    _fill_log(trained, log, shift)
    result = run_monitor("--prediction-log", str(log), "--artifacts-dir", str(trained))
    assert result.returncode == expected, result.stdout + result.stderr
    assert f"overall: {'alert' if expected else 'ok'}" in result.stdout
    assert "petal_length" in result.stdout


def test_monitor_cli_missing_log_exits_2(tmp_path: Path) -> None:
    result = run_monitor("--prediction-log", str(tmp_path / "none.db"))
    assert result.returncode == 2
    assert "--prediction-log" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(("flag", "value"), [("--window", "5"), ("--min-samples", "5")])
def test_monitor_cli_rejects_small_windows(
    trained: Path, tmp_path: Path, flag: str, value: str
) -> None:
    log = tmp_path / "p.db"
    _fill_log(trained, log, 0.0)
    result = run_monitor("--prediction-log", str(log), "--artifacts-dir", str(trained), flag, value)
    assert result.returncode == 2
    assert flag in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_feedback_unknown_label_names_the_field(monitored: TestClient) -> None:
    _predict(monitored, traffic(8, n=1)[0], "lbl")
    body = monitored.post("/feedback", json={"request_id": "lbl", "true_label": "rose"}).json()
    assert body["details"][0]["field"] == "true_label"
    assert "true_label" in body["message"]


def test_performance_without_training_metrics_is_unavailable(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "artifacts"
    shutil.copytree(trained, copy)
    (copy / "metrics.json").unlink()
    settings = make_settings(copy, prediction_log=str(tmp_path / "p.db"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/monitoring/performance").json()["status"] == "unavailable"
        assert client.get("/metrics").status_code == 200
