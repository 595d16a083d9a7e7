"""Monitoring through the ASGI app: prediction log, drift, feedback, /metrics, the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from petalflow.monitoring.checks import Monitor, open_log
from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader, writer
from petalflow.serving.app import create_app
from petalflow.serving.loading import load_model
from petalflow.training.data import FEATURE_NAMES, load_dataset
from tests.conftest import ROOT, make_settings, python_env
from tests.monitoring.conftest import DiskLimit, damage, page_count


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


def test_monitor_record_hands_the_log_one_classes_list_per_model(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(None, trained)
    log = PredictionLog(tmp_path / "p.db")  # not started: record is replaced below
    handed: list[Any] = []
    monkeypatch.setattr(log, "record", lambda *args, **kwargs: handed.append(args[4]))
    monitor = Monitor(model, log, make_settings(trained, prediction_log=str(log.path)))
    row, proba = np.array([[5.1, 3.5, 1.4, 0.2]]), np.array([[0.9, 0.05, 0.05]])
    for request_id in ("a", "b"):
        monitor.record(request_id, row, ["setosa"], proba)
    # the same object each time: the encoder caches the classes' JSON by identity
    assert handed[0] is handed[1] and list(handed[0]) == model.class_names


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


def run_monitor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "petalflow.monitor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_monitor_cli_reads_a_version_from_its_run_without_progress_bars(
    trained: Path, tmp_path: Path, isolated_tracking: str
) -> None:
    # The served version is not in --artifacts-dir: its card comes from its MLflow run,
    # and stderr stays JSON lines (no download progress bar), as the server's does.
    log = tmp_path / "p.db"
    _fill_log(trained, log, 0.0)
    other = tmp_path / "empty"
    other.mkdir()
    env = python_env(MLFLOW_TRACKING_URI=isolated_tracking)
    result = run_monitor("--prediction-log", str(log), "--artifacts-dir", str(other), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "overall: ok" in result.stdout
    assert "Downloading artifacts" not in result.stderr
    for line in result.stderr.splitlines():
        assert json.loads(line)["level"], line


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


def test_feedback_number_as_label_says_to_send_the_class_name_as_text(
    monitored: TestClient,
) -> None:
    _predict(monitored, traffic(8, n=1)[0], "numeric")
    answer = monitored.post("/feedback", json={"request_id": "numeric", "true_label": 0})
    assert answer.status_code == 422
    detail = answer.json()["details"][0]
    assert detail["field"] == "true_label"
    assert 'send the class name as a JSON string, e.g. "0"' in detail["message"]


def test_performance_without_training_metrics_is_unavailable(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "artifacts"
    shutil.copytree(trained, copy)
    (copy / "metrics.json").unlink()
    settings = make_settings(copy, prediction_log=str(tmp_path / "p.db"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/monitoring/performance").json()["status"] == "unavailable"
        assert client.get("/metrics").status_code == 200


# Faults: the log fails, predictions go on, and the failure is visible.


def _eventually(client: TestClient, condition: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Scrape /metrics (always 200) until ``condition(families)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        families = scrape(client)
        if condition(families):
            return families
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _up(families: dict[str, Any]) -> float:
    return sample_value(families, "petalflow_prediction_log_up", "petalflow_prediction_log_up")


def _dropped(families: dict[str, Any], reason: str) -> float:
    family = "petalflow_prediction_log_dropped"
    return sample_value(families, family, f"{family}_total", reason=reason)


def test_full_disk_predictions_answer_drops_are_counted_and_logging_resumes(
    trained: Path, tmp_path: Path, disk_limit: DiskLimit
) -> None:
    path = tmp_path / "p.db"
    with TestClient(create_app(make_settings(trained, prediction_log=str(path)))) as client:
        _predict(client, traffic(8, n=1)[0], "first")
        assert client.get("/monitoring/drift").json()["prediction_log"]["status"] == "ok"
        families = scrape(client)
        assert _up(families) == 1
        assert (
            sample_value(
                families,
                "petalflow_prediction_log_last_write_timestamp_seconds",
                "petalflow_prediction_log_last_write_timestamp_seconds",
            )
            > time.time() - 60
        )
        disk_limit.pages = page_count(path)
        # 200: the answer does not wait for the log. 2,000 rows (~115 KB) outgrow the
        # file's free pages.
        send(client, traffic(9, n=2000), "big")
        families = _eventually(client, lambda f: _up(f) == 0 and _dropped(f, "disk_full") >= 2000)
        drift = client.get("/monitoring/drift")
        assert drift.status_code == 200
        health = drift.json()["prediction_log"]
        assert health["status"] == "degraded" and health["reason"] == "disk_full"
        assert health["degraded_since"] and health["dropped"]["disk_full"] >= 2000
        feedback = client.post("/feedback", json={"request_id": "big:3", "true_label": "setosa"})
        assert feedback.status_code == 503
        assert feedback.json()["error"] == "prediction_not_logged"
        assert "disk_full" in feedback.json()["message"]
        disk_limit.pages = None  # space returns
        _predict(client, traffic(10, n=1)[0], "after")
        _eventually(client, lambda f: _up(f) == 1)
        ok = client.post("/feedback", json={"request_id": "after", "true_label": "setosa"})
        assert ok.status_code == 200
        assert client.get("/monitoring/performance").json()["prediction_log"]["status"] == "ok"


def test_damaged_log_keeps_predicting_and_answers_503_not_500(
    trained: Path, tmp_path: Path
) -> None:
    path = tmp_path / "p.db"
    with TestClient(create_app(make_settings(trained, prediction_log=str(path)))) as client:
        send(client, traffic(11, n=500), "filled")
        for i in range(400):
            _predict(client, traffic(12 + i, n=1)[0], f"row-{i}")
        assert client.get("/monitoring/drift").status_code == 200  # flushed
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        damage(path, "pages_2_to_5")
        for i in range(20):
            _predict(client, traffic(500 + i, n=1)[0], f"late-{i}")  # 200 throughout
        response = client.get("/monitoring/drift")  # reads the damaged predictions table
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "prediction_log_unavailable"
        assert "damaged" in body["message"] and str(tmp_path) not in body["message"]
        # The feedback table's page is intact: readable, and says the log is degraded.
        performance = client.get("/monitoring/performance")
        assert performance.status_code == 200
        assert performance.json()["prediction_log"]["reason"] == "damaged"
        feedback = client.post("/feedback", json={"request_id": "row-3", "true_label": "setosa"})
        assert feedback.status_code == 503
        families = _eventually(client, lambda f: _up(f) == 0)
        assert "petalflow_drift_status" not in families  # log-derived gauges: unavailable
        assert (
            sample_value(
                families, "petalflow_requests", "petalflow_requests_total", route="/predict"
            )
            >= 420
        )  # request metrics never depend on the log


def test_moved_log_is_recreated_and_nothing_answers_500(trained: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with TestClient(create_app(make_settings(trained, prediction_log=str(path)))) as client:
        send(client, traffic(13, n=50), "old")
        assert client.get("/monitoring/drift").json()["window_size"] == 50
        os.rename(path, tmp_path / "p.db.1")
        statuses = set()
        deadline = time.monotonic() + 20
        while True:
            _predict(client, traffic(14, n=1)[0], f"new-{len(statuses)}-{time.monotonic()}")
            drift = client.get("/monitoring/drift")
            statuses.add(drift.status_code)
            if drift.status_code == 200 and drift.json()["window_size"] >= 1:
                break
            assert time.monotonic() < deadline
        assert statuses <= {200, 503}
        assert drift.json()["prediction_log"]["status"] == "ok"
        _predict(client, traffic(15, n=1)[0], "fresh")
        ok = client.post("/feedback", json={"request_id": "fresh", "true_label": "setosa"})
        assert ok.status_code == 200


def test_locked_log_is_degraded_until_the_lock_goes_then_everything_is_written(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "_BEHIND_SECONDS", 0.2)
    path = tmp_path / "p.db"
    with TestClient(create_app(make_settings(trained, prediction_log=str(path)))) as client:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            _predict(client, traffic(16, n=1)[0], "waiting")
            _eventually(client, lambda f: _up(f) == 0)
            drift = client.get("/monitoring/drift").json()
            assert drift["prediction_log"]["reason"] == "locked"
            feedback = client.post(
                "/feedback", json={"request_id": "waiting", "true_label": "setosa"}
            )
            assert feedback.status_code == 503  # queued, not lost: not a 404
            assert "locked" in feedback.json()["message"]
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        _eventually(client, lambda f: _up(f) == 1)
        ok = client.post("/feedback", json={"request_id": "waiting", "true_label": "setosa"})
        assert ok.status_code == 200


# Reused request ids: replayed (same features) or refused (other features).


def test_reused_request_id_with_the_same_features_replays_the_logged_answer(
    monitored: TestClient,
) -> None:
    row = traffic(17, n=1)[0]
    first = monitored.post("/predict", json=row, headers={"x-request-id": "retry-1"})
    again = monitored.post("/predict", json=row, headers={"x-request-id": "retry-1"})
    assert first.status_code == again.status_code == 200
    keep = ("predicted_label", "class_probabilities", "model_version")
    assert {k: again.json()[k] for k in keep} == {k: first.json()[k] for k in keep}
    assert monitored.get("/monitoring/drift").json()["window_size"] == 1  # logged once
    # Replayed from the file too (after the write), not only from memory.
    third = monitored.post("/predict", json=row, headers={"x-request-id": "retry-1"})
    assert third.json()["class_probabilities"] == first.json()["class_probabilities"]
    assert monitored.get("/monitoring/drift").json()["window_size"] == 1


def test_reused_request_id_of_a_written_batch_replays_the_same_probabilities(
    monitored: TestClient,
) -> None:
    """A batch read back from the file (float64 BLOBs, class positions) answers exactly
    what it answered first (the drift window holds 500 rows: a second log would show)."""
    rows = traffic(19, n=300)
    first = send(monitored, rows, "batch-retry")
    assert monitored.get("/monitoring/drift").json()["window_size"] == 300  # written
    again = send(monitored, rows, "batch-retry")
    assert again["predictions"] == first["predictions"]
    assert monitored.get("/monitoring/drift").json()["window_size"] == 300  # logged once


@pytest.mark.parametrize("written", [False, True])
def test_reused_request_id_with_other_features_is_409_and_feedback_stays_right(
    monitored: TestClient, written: bool
) -> None:
    mine, theirs = traffic(18, n=2)
    mine = {**mine, "petal_length": 1.0}
    theirs = {**theirs, "petal_length": 6.5}
    first = monitored.post("/predict", json=mine, headers={"x-request-id": "shared"})
    assert first.status_code == 200
    if written:
        assert monitored.get("/monitoring/drift").status_code == 200  # flushed to the file
    clash = monitored.post("/predict", json=theirs, headers={"x-request-id": "shared"})
    assert clash.status_code == 409
    body = clash.json()
    assert body["error"] == "request_id_conflict" and "X-Request-ID" in body["message"]
    batch = monitored.post(
        "/predict/batch", json={"instances": [theirs]}, headers={"x-request-id": "shared"}
    )
    assert batch.status_code == 409
    truth = first.json()["predicted_label"]
    feedback = monitored.post("/feedback", json={"request_id": "shared", "true_label": truth})
    assert feedback.status_code == 200
    assert feedback.json()["predicted_label"] == truth  # the first client's own prediction
    assert monitored.get("/monitoring/drift").json()["window_size"] == 1


def test_generated_request_ids_are_never_checked_against_the_log(
    monitored: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("looked up a server-generated id")

    monkeypatch.setattr(PredictionLog, "lookup", fail)
    for row in traffic(19, n=3):
        assert monitored.post("/predict", json=row).status_code == 200
