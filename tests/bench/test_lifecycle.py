"""The lifecycle cells: where the shadow's cell goes, what the two servers are started
with, and the reload table's figures (hand-computed)."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from bench import lifecycle, servers
from bench.latency import LatencyResult
from bench.loadgen import BenchError
from bench.suite import SINGLE, scenarios

MODEL = servers.Trained("logreg", Path("/tmp/work/logreg"), "abc123")


def _result(times_ms: list[int]) -> LatencyResult:
    ns = [t * 1_000_000 for t in times_ms]
    return LatencyResult([ns], [sum(ns)], 0)


def test_add_shadow_cell_joins_petalflows_group_at_the_highest_count() -> None:
    groups = scenarios("logreg", [1, 16])
    lifecycle.add_shadow_cell(groups, "logreg", 16)
    holding = [g for g in groups if any(c.key == "pf_shadow" for c in g)]
    assert len(holding) == 1
    shadow = next(c for c in holding[0] if c.key == "pf_shadow")
    assert (shadow.test, shadow.connections, shadow.path, shadow.body) == (
        SINGLE,
        16,
        "/predict",
        "predict",
    )
    assert any((c.key, c.connections) == ("pf", 16) for c in holding[0])


def test_add_shadow_cell_refuses_a_count_no_group_has() -> None:
    with pytest.raises(BenchError, match="no single-row group at 8 connections"):
        lifecycle.add_shadow_cell(scenarios("logreg", [1, 16]), "logreg", 8)


def test_shadow_and_reload_servers_are_petalflow_with_their_settings(tmp_path: Path) -> None:
    shadow = lifecycle.shadow_spec(tmp_path, MODEL)
    assert shadow.env["SHADOW_MODEL_URI"] == "runs:/abc123/model"
    assert shadow.env["SHADOW_SAMPLE"] == "1"
    reload = lifecycle.reload_spec(tmp_path, MODEL, "bench-logreg")
    assert reload.env["MODEL_URI"] == "models:/bench-logreg@champion"
    assert reload.env["RELOAD_INTERVAL"] == "0"  # the bench decides when: POST /admin/reload
    logs = {shadow.env["PREDICTION_LOG"], reload.env["PREDICTION_LOG"]}
    plain = servers.petalflow_spec(tmp_path, MODEL).env["PREDICTION_LOG"]
    assert len(logs) == 2 and plain not in logs  # each server its own prediction log
    assert shadow.args == reload.args == servers.petalflow_spec(tmp_path, MODEL).args


def test_reload_table_shows_both_runs_and_their_p99_ratio() -> None:
    steady = _result([1] * 98 + [4, 9])  # p50 1, p99 4, max 9 ms
    during = _result([2] * 98 + [10, 50])  # p50 2, p99 10, max 50 ms
    table = lifecycle.reload_table([lifecycle.ReloadRun("rf", 8, steady, during, 6)])
    assert table[2] == "| rf | 8 | 6 | 1.00 / 4.00 / 9.0 | 2.00 / 10.00 / 50.0 | 2.50x |"


class _AdminStub(http.server.BaseHTTPRequestHandler):
    """``POST /admin/reload`` answering the outcome the test sets; counts the calls."""

    outcome = "switched"
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        body = json.dumps({"outcome": self.outcome}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture()
def registry(tmp_path: Path) -> tuple[str, str]:
    """A sqlite registry with versions 1 and 2 of bench-logreg, the alias on 1."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model("bench-logreg")
    for _ in range(2):
        client.create_model_version("bench-logreg", str(tmp_path / "model"))
    client.set_registered_model_alias("bench-logreg", lifecycle.ALIAS, "1")
    return uri, "bench-logreg"


@pytest.mark.parametrize("outcome", ["switched", "unchanged"])
def test_reloader_process_moves_the_alias_and_reports_each_reload(
    registry: tuple[str, str], outcome: str
) -> None:
    uri, name = registry
    handler = type("Admin", (_AdminStub,), {"outcome": outcome, "calls": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        reloader = lifecycle._Reloader(url, uri, name, dict(os.environ))
        assert handler.calls == 0  # nothing before "go"
        reloader.go()
        deadline = time.monotonic() + 60  # only against a hang
        while handler.calls < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        switched, errors = reloader.stop()
    finally:
        server.shutdown()
    assert handler.calls >= 1
    if outcome == "switched":
        assert (switched, errors) == (handler.calls, [])
    else:
        assert switched == 0 and len(errors) == handler.calls
        assert errors[0].startswith("reload to version 2: 200")
    version = str(MlflowClient(uri).get_model_version_by_alias(name, lifecycle.ALIAS).version)
    assert version == ("2" if handler.calls % 2 else "1")  # moved once per reload
