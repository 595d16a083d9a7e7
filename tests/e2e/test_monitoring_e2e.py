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
