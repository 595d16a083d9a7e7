"""The SQLite prediction log: WAL, round trip, retention, feedback, restarts, concurrency."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from petalflow.errors import AlreadyLabelledError, PredictionNotFoundError, UnknownLabelError
from petalflow.predictions import PredictionLog

ROW = [5.1, 3.5, 1.4, 0.2]
PROBABILITIES = {"setosa": 0.97, "versicolor": 0.02, "virginica": 0.01}
LABELS = ("setosa", "versicolor", "virginica")


@pytest.fixture()
def log(tmp_path: Path) -> Iterator[PredictionLog]:
    prediction_log = PredictionLog(tmp_path / "predictions.db")
    yield prediction_log
    prediction_log.close()


def record(log: PredictionLog, request_id: str, label: str = "setosa", version: str = "1") -> None:
    assert log.record(request_id, version, ROW, label, PROBABILITIES)


def raw_rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM predictions ORDER BY id").fetchall()
    finally:
        conn.close()


def test_prediction_log_uses_wal_mode(log: PredictionLog) -> None:
    conn = sqlite3.connect(log.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_prediction_log_round_trips_a_prediction(log: PredictionLog) -> None:
    assert log.record("req-1", "3", ROW, "setosa", PROBABILITIES, created_at=1700000000.5)
    assert log.flush()
    (row,) = raw_rows(log.path)
    assert row["request_id"] == "req-1"
    assert row["created_at"] == 1700000000.5
    assert row["model_version"] == "3"
    assert [row[c] for c in ("sepal_length", "sepal_width", "petal_length", "petal_width")] == ROW
    assert row["label"] == "setosa"
    assert json.loads(row["probabilities"]) == PROBABILITIES
    assert row["true_label"] is None
    assert row["labelled_at"] is None
    features, labels = log.recent(10)
    assert features.tolist() == [ROW]
    assert labels == ["setosa"]
    assert log.count() == 1


def test_prediction_log_recent_returns_newest_oldest_first_per_version(log: PredictionLog) -> None:
    for i in range(10):
        log.record(f"r{i}", "1" if i % 2 else "2", [float(i), 0, 0, 0], LABELS[i % 3], {})
    log.flush()
    features, labels = log.recent(3)
    assert features[:, 0].tolist() == [7.0, 8.0, 9.0]
    assert labels == ["versicolor", "virginica", "setosa"]
    features, _ = log.recent(3, model_version="1")
    assert features[:, 0].tolist() == [5.0, 7.0, 9.0]
    assert log.count(model_version="2") == 5
    assert log.recent(5, model_version="9").features.shape == (0, 4)


def test_prediction_log_rejects_wrong_number_of_features(log: PredictionLog) -> None:
    with pytest.raises(ValueError, match="expected 4 feature values, got 3"):
        log.record("r", "1", ROW[:3], "setosa", {})


def test_prediction_log_ignores_duplicate_request_id(log: PredictionLog) -> None:
    record(log, "dup", "setosa")
    record(log, "dup", "virginica")
    log.flush()
    assert [row["label"] for row in raw_rows(log.path)] == ["setosa"]


def test_prediction_log_prunes_to_newest_rows_periodically(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=50, prune_every=20, batch_size=10) as log:
        for i in range(200):
            record(log, f"r{i}")
            if i % 10 == 9:
                log.flush()
        # Pruned every 20 written rows: never more than max_rows + prune_every.
        assert 50 <= log.count() < 70
        log.prune()
        assert log.count() == 50
        ids = [row["request_id"] for row in raw_rows(log.path)]
    assert ids == [f"r{i}" for i in range(150, 200)]


def test_prediction_log_does_not_prune_on_every_insert(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=5, prune_every=100) as log:
        for i in range(30):
            record(log, f"r{i}")
        log.flush()
        assert log.count() == 30
        assert log.prune() == 25


def test_prediction_log_feedback_is_joined_to_the_prediction(log: PredictionLog) -> None:
    record(log, "req-1", "setosa")
    record(log, "req-2", "setosa")
    log.add_feedback("req-2", "versicolor")
    log.add_feedback("req-1", "setosa")
    rows = {row["request_id"]: row for row in raw_rows(log.path)}
    assert rows["req-2"]["true_label"] == "versicolor"
    assert rows["req-2"]["labelled_at"] is not None
    # Most recently labelled first.
    assert log.labelled(10) == [("setosa", "setosa"), ("versicolor", "setosa")]
    assert log.labelled(1) == [("setosa", "setosa")]
    assert log.labelled(10, model_version="2") == []


def test_prediction_log_feedback_flushes_a_pending_prediction(tmp_path: Path) -> None:
    # One row per transaction: the last record is still queued when feedback arrives.
    with PredictionLog(tmp_path / "p.db", batch_size=1) as log:
        for i in range(3000):
            record(log, f"req-{i}")
        log.add_feedback("req-2999", "virginica", wait=0.0)
        assert log.labelled(5) == [("virginica", "setosa")]


def test_prediction_log_feedback_waits_for_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as api, PredictionLog(path) as other_worker:
        timer = threading.Timer(0.1, record, (other_worker, "late"))
        timer.start()
        api.add_feedback("late", "virginica", wait=5.0)
        timer.join()
        assert api.labelled(1) == [("virginica", "setosa")]


def test_prediction_log_feedback_unknown_id_raises(log: PredictionLog) -> None:
    record(log, "req-1")
    with pytest.raises(PredictionNotFoundError, match="no logged prediction has request id 'nope'"):
        log.add_feedback("nope", "setosa", wait=0.05)


def test_prediction_log_feedback_twice_raises(log: PredictionLog) -> None:
    record(log, "req-1")
    log.add_feedback("req-1", "versicolor")
    with pytest.raises(AlreadyLabelledError, match="'req-1' is already labelled 'versicolor'"):
        log.add_feedback("req-1", "setosa")
    assert log.labelled(10) == [("versicolor", "setosa")]


def test_prediction_log_feedback_unknown_label_raises(log: PredictionLog) -> None:
    record(log, "req-1")
    with pytest.raises(UnknownLabelError, match="unknown label 'rose'"):
        log.add_feedback("req-1", "rose", allowed_labels=LABELS)
    log.flush()
    assert raw_rows(log.path)[0]["true_label"] is None


def test_prediction_log_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as first:
        record(first, "before")
    with PredictionLog(path) as second:
        record(second, "after")
        second.add_feedback("before", "setosa")
        second.flush()
        assert second.count() == 2
        assert second.labelled(10) == [("setosa", "setosa")]


def test_prediction_log_close_writes_queued_rows_and_drops_later_ones(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    log = PredictionLog(path)
    for i in range(100):
        record(log, f"r{i}")
    log.close()
    assert not log.record("late", "1", ROW, "setosa", {})
    assert log.dropped == 1
    assert len(raw_rows(path)) == 100


def test_prediction_log_two_instances_writing_concurrently_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logs = [PredictionLog(path, batch_size=7), PredictionLog(path, batch_size=13)]
    per_thread = 500

    def write(log: PredictionLog, name: str) -> None:
        for i in range(per_thread):
            record(log, f"{name}:{i}")

    threads = [threading.Thread(target=write, args=(logs[t % 2], f"t{t}")) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    ids = {row["request_id"] for row in raw_rows(path)}
    assert ids == {f"t{t}:{i}" for t in range(4) for i in range(per_thread)}
    assert all(log.dropped == 0 for log in logs)


def test_prediction_log_record_does_not_block_while_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, busy_timeout=30.0) as log:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the writer thread now waits for the lock
        try:
            started = time.perf_counter()
            for i in range(1000):
                record(log, f"r{i}")
            elapsed = time.perf_counter() - started
            assert not log.flush(timeout=0.2)  # really blocked: nothing could be written
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        assert elapsed < 0.5
        assert log.flush()
        assert log.count() == 1000


def test_prediction_log_drops_instead_of_blocking_when_queue_is_full(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, max_pending=10, busy_timeout=30.0) as log:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            results = [log.record(f"r{i}", "1", ROW, "setosa", {}) for i in range(100)]
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        log.flush()
        assert results.count(False) == log.dropped
        assert log.dropped >= 80
        assert log.count() == results.count(True)


def test_prediction_log_recent_empty_log_has_no_rows(log: PredictionLog) -> None:
    features, labels = log.recent(500)
    assert isinstance(features, np.ndarray)
    assert features.shape == (0, 4)
    assert labels == []
