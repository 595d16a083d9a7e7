"""A real server and a damaged prediction log at start-up: refused with the path and the
remedy, or moved aside when PREDICTION_LOG_ON_DAMAGE says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.monitoring.conftest import damage, filled_log

pytestmark = pytest.mark.e2e
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.mark.parametrize("where", ["pages_2_to_5", "whole_file"])
def test_server_refuses_to_start_on_a_damaged_log_naming_path_and_remedy(
    start_server: Any, trained: Path, tmp_path: Path, where: str
) -> None:
    log = tmp_path / "damaged.db"
    filled_log(log, n=2000)
    damage(log, where)
    server = start_server(
        {"ARTIFACTS_DIR": str(trained), "PREDICTION_LOG": str(log)}, healthy=False
    )
    assert server.proc.wait(timeout=90) != 0
    output = server.output()
    assert f"the prediction log {log} is damaged" in output
    assert "PREDICTION_LOG_ON_DAMAGE=move_aside" in output
    assert "Traceback" not in output


def test_server_moves_a_damaged_log_aside_when_asked_and_logs_it(
    start_server: Any, trained: Path, tmp_path: Path
) -> None:
    log = tmp_path / "damaged.db"
    filled_log(log, n=2000)
    damage(log, "pages_2_to_5")
    server = start_server(
        {
            "ARTIFACTS_DIR": str(trained),
            "PREDICTION_LOG": str(log),
            "PREDICTION_LOG_ON_DAMAGE": "move_aside",
        }
    )
    response = httpx.post(server.url + "/predict", json=ROW, headers={"x-request-id": "new-1"})
    assert response.status_code == 200
    drift = httpx.get(server.url + "/monitoring/drift").json()
    assert drift["window_size"] == 1 and drift["prediction_log"]["status"] == "ok"
    moved = [p.name for p in tmp_path.iterdir() if p.name.startswith("damaged.db.corrupt-")]
    assert moved, list(tmp_path.iterdir())
    assert "moved it to" in server.output()
