"""The writer under faults: a full disk, a held lock, a file damaged while it runs.
Every dropped prediction is counted by reason, and logging resumes once the fault clears."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest

from petalflow.monitoring.prediction_log import PredictionLog, writer
from tests.monitoring.conftest import (
    DiskLimit,
    damage,
    page_count,
    record,
    wait_for,
)


def test_writer_counts_drops_on_a_full_disk_and_resumes_when_space_returns(
    tmp_path: Path, disk_limit: DiskLimit, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    with caplog.at_level(logging.WARNING), PredictionLog(path, linger=0.02) as log:
        record(log, "before")
        assert log.flush() and log.count() == 1
        disk_limit.pages = page_count(path)  # not one more page: the disk is full
        big = [[float(i)] * 4 for i in range(5000)]  # needs new pages
        assert log.record("big", "1", big, ["setosa"] * 5000, ["setosa"], [[1.0]] * 5000)
        for i in range(20):
            record(log, f"during-{i}")
        wait_for(lambda: log.health.dropped["disk_full"] >= 5000)
        assert not log.health.up and log.health.reason == "disk_full"
        assert log.health.why_dropped("big") == "disk_full"
        assert log.count() == 1  # nothing half-written
        disk_limit.pages = None  # space returns
        record(log, "after")
        wait_for(lambda: log.health.up)
        assert log.flush() and log.lookup("after") is not None
    report = log.health.report()
    assert report["status"] == "ok" and report["last_write"] is not None
    dropped = log.health.dropped["disk_full"]
    assert log.dropped == dropped >= 5000
    warnings = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
    assert len(warnings) == 1 and "disk_full" in warnings[0]  # one line, not one per drain
    assert "Traceback" not in caplog.text
    assert any("recovered" in r.getMessage() for r in caplog.records)


def test_writer_a_held_lock_degrades_the_log_and_overflow_is_counted_as_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "_BEHIND_SECONDS", 0.2)
    path = tmp_path / "p.db"
    log = PredictionLog(path, linger=0.02, busy_timeout=0.05, max_pending=5).start()
    try:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            assert record(log, "queued-0")
            wait_for(lambda: log.health.reason == "locked")
            for i in range(1, 10):
                record(log, f"queued-{i}")
            assert log.health.dropped == {"locked": 5}  # 5 queued, 5 over the limit
            assert log.health.why_dropped("queued-9") == "locked"
            assert log.health.why_dropped("queued-0") is None  # queued, not dropped
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        wait_for(lambda: log.health.up)
        assert log.flush() and log.count() == 5  # the queued ones were written
    finally:
        log.close()


def test_writer_a_file_damaged_while_running_drops_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, linger=0.02) as log:
        for i in range(2000):
            record(log, f"r{i}", [float(i), 1.0, 2.0, 3.0])
        assert log.flush()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        damage(path, "pages_2_to_5")
        for i in range(50):
            record(log, f"late-{i}", [float(i), 9.0, 9.0, 9.0])
        wait_for(lambda: log.health.reason == "damaged")
        wait_for(lambda: log.health.dropped["damaged"] > 0)
        assert not log.health.up


def test_writer_inserts_slices_encoded_before_a_move_into_the_new_file(tmp_path: Path) -> None:
    """The loop's slices touch no file; the thread inserts them into the file at the path,
    never into the moved one."""
    path, moved = tmp_path / "p.db", tmp_path / "rotated.db"
    with PredictionLog(path, linger=3600) as log:  # the thread sleeps until woken
        record(log, "before")
        assert log.flush()
        path.rename(moved)
        record(log, "after")
        assert log._writer.encode_slice() == 1
        log._writer._wake.set()  # the thread replaces the file ...
        wait_for(lambda: path.exists() and not log._writer.file.moved)
        log._writer._wake.set()  # ... and, woken again, inserts into the new one
        # (its slice leaves the queue before the insert commits: wait for the row itself)
        wait_for(lambda: _request_ids(path) == ["after"])
    assert _request_ids(path) == ["after"]
    assert _request_ids(moved) == ["before"]


def _request_ids(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM predictions")]


def test_close_says_how_many_requests_a_lock_held_elsewhere_kept_from_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A shutdown waits `timeout` s for the writer; what a lock still holds back then ends
    # with the process: said, not silently lost.
    path = tmp_path / "p.db"
    log = PredictionLog(path, busy_timeout=30.0).start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(3):
            record(log, f"held-{i}")
        with caplog.at_level(logging.ERROR):
            log.close(timeout=0.5)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"{path}: still locked (or slow) 0.5 s after shutdown began: the requests of the "
        "transaction waiting for it, and 0 more queued, end with the process"
    ]


def test_close_of_an_unlocked_log_writes_everything_and_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    log = PredictionLog(path).start()
    record(log, "free")
    with caplog.at_level(logging.ERROR):
        log.close(timeout=10.0)
    assert [r for r in caplog.records if r.levelno == logging.ERROR] == []
    assert _request_ids(path) == ["free"]
