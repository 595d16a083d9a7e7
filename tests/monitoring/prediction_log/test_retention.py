"""Retention: what a prune deletes, that it holds the write lock only to delete, and that
a total read before the lock never makes it delete more than it should."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from petalflow.monitoring.prediction_log import PredictionLog, database, retention
from tests.monitoring.conftest import record, wait_for


def logged(path: Path, n: int) -> None:
    with PredictionLog(path) as log:
        for i in range(n):
            record(log, f"r{i}")
        assert log.flush()


def kept(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM predictions ORDER BY id")]


def test_prune_reads_the_total_before_taking_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logged(path, 5)
    statements: list[str] = []
    with database.connect(path, 1.0) as conn:
        conn.set_trace_callback(statements.append)
        assert retention.prune(conn, max_rows=2, path=path) == 3
    begin = statements.index("BEGIN IMMEDIATE")
    total = next(i for i, s in enumerate(statements) if "SUM(n_rows), 0), MIN(id)" in s)
    delete = next(i for i, s in enumerate(statements) if s.startswith("DELETE FROM predictions"))
    assert total < begin < delete  # the read of every row runs without the lock
    assert kept(path) == ["r3", "r4"]


def test_prune_counts_the_rows_written_after_its_survey(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logged(path, 5)
    with database.connect(path, 1.0) as conn:
        seen = retention.survey(conn)
        assert seen is not None and seen.total == 5
        with PredictionLog(path) as log:  # 3 more land between the survey and the prune
            for i in range(5, 8):
                record(log, f"r{i}")
            assert log.flush()
        assert retention.prune(conn, max_rows=4, path=path, seen=seen) == 4
    assert kept(path) == ["r4", "r5", "r6", "r7"]


@pytest.mark.parametrize("competing_max_rows", [3, 1])
def test_prune_after_another_prune_since_its_survey_leaves_the_predictions(
    tmp_path: Path, competing_max_rows: int
) -> None:
    """Another worker pruned between the survey and the lock: the stale total would
    delete too much (with max_rows=1 left, everything); this prune deletes nothing."""
    path = tmp_path / "p.db"
    logged(path, 6)
    with database.connect(path, 1.0) as conn, database.connect(path, 1.0) as other:
        seen = retention.survey(conn)
        retention.prune(other, max_rows=competing_max_rows, path=path)
        after_other = kept(path)
        assert retention.prune(conn, max_rows=4, path=path, seen=seen) == 0
    assert kept(path) == after_other == [f"r{i}" for i in range(6 - competing_max_rows, 6)]


def test_writer_thread_surveys_before_it_takes_the_writer_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's slices never wait for the lock: the thread holds it only to delete."""
    survey, locked_during_survey = retention.survey, []

    def spied(conn: sqlite3.Connection) -> retention.Survey | None:
        locked_during_survey.append(log._writer._lock.locked())
        return survey(conn)

    monkeypatch.setattr(retention, "survey", spied)
    with PredictionLog(tmp_path / "p.db", max_rows=3, prune_every=5, linger=0.02) as log:
        writer = log._writer
        writer._loop_writing = True  # as while the event loop writes: the thread prunes
        for i in range(6):
            record(log, f"r{i}")
        conn = sqlite3.connect(log.path, timeout=0, isolation_level=None)
        try:
            assert writer.write_slice(conn) == 6
        finally:
            conn.close()
        writer._wake.set()
        wait_for(lambda: bool(locked_during_survey) and log.count() <= 3)
        writer._loop_writing = False
    assert locked_during_survey[0] is False
    assert kept(tmp_path / "p.db") == ["r3", "r4", "r5"]
