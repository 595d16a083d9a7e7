"""Monitoring with several uvicorn workers: metrics and reports agree across workers."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import uvicorn_args
from tests.monitoring.test_checks import traffic

pytestmark = pytest.mark.e2e


def _count(text: str, route: str, status: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "petalflow_requests_total"
        and s.labels.get("route") == route
        and s.labels.get("status") == status
    )


def test_two_workers_share_metrics_and_monitoring(start_server, trained: Path) -> None:
    server = start_server(
        {"ARTIFACTS_DIR": str(trained), "PROMETHEUS_MULTIPROC_DIR": None},
        args=uvicorn_args("--workers", "2"),
    )
    rows = traffic(11, n=200)
    for i, row in enumerate(rows):
        # A new connection per request spreads requests over both workers.
        with httpx.Client() as client:
            response = client.post(
                server.url + "/predict", json=row, headers={"x-request-id": f"w-{i}"}
            )
            assert response.status_code == 200
    time.sleep(1.0)  # let each worker's background writer commit its queue
    for _ in range(8):
        with httpx.Client() as client:
            metrics = client.get(server.url + "/metrics").text
            drift = client.get(server.url + "/monitoring/drift").json()
        assert _count(metrics, "/predict", "200") == 200
        assert drift["window_size"] == 200
    # Both workers served: each keeps its own counter file in the shared folder.
    (folder,) = Path(tempfile.gettempdir()).glob(f"petalflow-metrics-{server.proc.pid}-*")
    assert len({f.stem.split("_")[-1] for f in folder.glob("counter_*.db")}) >= 2
    with httpx.Client() as client:
        assert (
            client.post(
                server.url + "/feedback", json={"request_id": "w-7", "true_label": "setosa"}
            ).status_code
            == 200
        )
        assert (
            client.post(
                server.url + "/feedback", json={"request_id": "w-7", "true_label": "setosa"}
            ).status_code
            == 409
        )


def test_monitor_judges_the_served_version_after_a_retrain(
    start_server, tmp_path: Path, isolated_tracking: str
) -> None:
    """Serve run A, drift its traffic, retrain B into the same folder: the monitor still
    judges A (the version that served), alerts and exits 1 naming it."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT, python_env, train_into

    artifacts = train_into(tmp_path / "artifacts")
    served = json.loads((artifacts / "model_info.json").read_text())["run_id"]
    log = tmp_path / "predictions.db"
    server = start_server({"ARTIFACTS_DIR": str(artifacts), "PREDICTION_LOG": str(log)})
    with httpx.Client() as client:
        response = client.post(
            server.url + "/predict/batch", json={"instances": traffic(3, n=300, shift=2.0)}
        )
        assert response.status_code == 200
    server.stop()  # the log is flushed on shutdown
    train_into(artifacts, "--seed", "7")  # the retrain replaces artifacts/
    retrained = json.loads((artifacts / "model_info.json").read_text())["run_id"]
    assert retrained != served
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "petalflow.monitor",
            "--prediction-log",
            str(log),
            "--artifacts-dir",
            str(artifacts),
        ],
        cwd=ROOT,
        env=python_env(MLFLOW_TRACKING_URI=isolated_tracking),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"model {served}" in result.stdout
    assert retrained not in result.stdout
    assert "drift: alert over 300 predictions" in result.stdout


def test_monitor_export_gives_back_the_rows_sent_and_the_models_probabilities(
    start_server, trained: Path, tmp_path: Path
) -> None:
    """A batch and a single row through uvicorn, then `python -m petalflow monitor export`:
    one CSV line per row, the features sent and the pipeline's own predict_proba."""
    import csv
    import subprocess
    import sys

    import joblib
    import numpy as np
    import pandas as pd

    from tests.conftest import ROOT, python_env

    log = tmp_path / "predictions.db"
    server = start_server({"ARTIFACTS_DIR": str(trained), "PREDICTION_LOG": str(log)})
    rows = traffic(5, n=40)
    with httpx.Client() as client:
        batch = client.post(
            server.url + "/predict/batch",
            json={"instances": rows[:39]},
            headers={"x-request-id": "b"},
        )
        one = client.post(server.url + "/predict", json=rows[39], headers={"x-request-id": "o"})
    assert batch.status_code == one.status_code == 200
    server.stop()  # the log is flushed on shutdown
    out = tmp_path / "rows.csv"
    result = subprocess.run(
        [sys.executable, "-m", "petalflow", "monitor", "export", "--prediction-log", str(log),
         "--output", str(out)],
        cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(r["request_id"], int(r["row_index"])) for r in lines] == [
        *(("b", i) for i in range(39)),
        ("o", 0),
    ]
    features = [list(row.values()) for row in rows]
    assert [[float(r[f"feature_{j}"]) for j in range(4)] for r in lines] == features
    model = joblib.load(trained / "model.joblib")
    classes = [str(c) for c in model.classes_]
    expected = model.predict_proba(pd.DataFrame(rows))
    got = [[float(r[f"proba_{c}"]) for c in classes] for r in lines]
    np.testing.assert_allclose(got, expected, atol=1e-9, rtol=0)
    assert [r["label"] for r in lines] == [classes[i] for i in expected.argmax(axis=1)]
