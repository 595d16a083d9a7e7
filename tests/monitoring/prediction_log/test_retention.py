"""Retention: what a prune deletes, and that it holds the write lock only to delete."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from petalflow.monitoring.prediction_log import PredictionLog, database, retention
from tests.monitoring.conftest import record


def test_prune_reads_the_total_before_taking_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as log:
        for i in range(5):
            record(log, f"r{i}")
        assert log.flush()
    statements: list[str] = []
    with database.connect(path, 1.0) as conn:
        conn.set_trace_callback(statements.append)
        assert retention.prune(conn, max_rows=2, path=path) == 3
    begin = statements.index("BEGIN IMMEDIATE")
    total = next(i for i, s in enumerate(statements) if "SUM(n_rows), 0)" in s)
    delete = next(i for i, s in enumerate(statements) if s.startswith("DELETE FROM predictions"))
    assert total < begin < delete  # the scan of every row runs without the lock
    with sqlite3.connect(path) as check:
        kept = [r[0] for r in check.execute("SELECT request_id FROM predictions ORDER BY id")]
    assert kept == ["r3", "r4"]
