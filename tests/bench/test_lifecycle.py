"""The lifecycle cells: where the shadow's cell goes, what the two servers are started
with, and the reload table's figures (hand-computed)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
