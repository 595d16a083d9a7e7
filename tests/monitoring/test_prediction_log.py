"""The SQLite prediction log: lifecycle, schema versions, round trip, batches, retention,
feedback, concurrency, the event-loop writer and the read-only reader."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import sqlite3
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import petalflow.monitoring.prediction_log as predictions
from petalflow.core.errors import (
    AlreadyLabelledError,
    PredictionLogError,
    PredictionLogUnavailableError,
    PredictionNotFoundError,
    RequestIdConflictError,
    UnknownLabelError,
)
from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader, schema
from petalflow.monitoring.prediction_log import store as store_module
from petalflow.monitoring.prediction_log import writer as writer_module
from petalflow.monitoring.prediction_log.writer import Writer

ROW = [5.1, 3.5, 1.4, 0.2]
PROBABILITIES = {"setosa": 0.97, "versicolor": 0.02, "virginica": 0.01}
CLASSES = list(PROBABILITIES)
PROBA = list(PROBABILITIES.values())
LABELS = ("setosa", "versicolor", "virginica")
REMEDY = "move it away or point PREDICTION_LOG at a new file"
# The tables of the petalflow that never set user_version, with the index it dropped.
VERSION_0_DDL = """
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL, features TEXT NOT NULL,
    labels TEXT NOT NULL, probabilities TEXT NOT NULL, classes TEXT NOT NULL);
CREATE INDEX predictions_version ON predictions (model_version, id);
CREATE TABLE feedback (
    request_id TEXT NOT NULL, row_index INTEGER NOT NULL, true_label TEXT NOT NULL,
    predicted_label TEXT NOT NULL, model_version TEXT NOT NULL, labelled_at REAL NOT NULL,
    PRIMARY KEY (request_id, row_index));
CREATE INDEX feedback_version ON feedback (model_version, labelled_at);
INSERT INTO predictions VALUES
    (1, 'old', 1.0, '7', 2, '[[1, 2, 3, 4], [5, 6, 7, 8]]', '["setosa", "virginica"]',
     '[[1, 0, 0], [0, 0, 1]]', '["setosa", "versicolor", "virginica"]');
"""


@pytest.fixture()
def log(tmp_path: Path) -> Iterator[PredictionLog]:
    with PredictionLog(tmp_path / "predictions.db") as prediction_log:
        yield prediction_log


def record(
    log: PredictionLog,
    request_id: str,
    label: str = "setosa",
    version: str = "1",
    row: Sequence[float] = ROW,
) -> None:
    """One single-row request: features ``row``, probabilities ``PROBA``."""
    assert log.record(request_id, version, [row], [label], CLASSES, [PROBA])


def record_batch(log: PredictionLog, request_id: str, n: int, start: float = 0.0) -> None:
    """A batch of ``n`` rows whose first feature counts up from ``start``."""
    features = np.zeros((n, 4))
    features[:, 0] = np.arange(start, start + n)
    labels = [LABELS[i % 3] for i in range(n)]
    proba = np.full((n, 3), 1 / 3)
    assert log.record(request_id, "1", features, labels, LABELS, proba)


def raw_rows(path: Path, table: str = "predictions") -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


def floats(blob: bytes, n_rows: int) -> list[list[float]]:
    """A stored float64 BLOB as n_rows lists, decoded with struct (not the log's code)."""
    values = struct.unpack(f"<{len(blob) // 8}d", blob)
    width = len(values) // n_rows
    return [list(values[i * width : (i + 1) * width]) for i in range(n_rows)]


def pragma(path: Path, name: str) -> Any:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def make_file(path: Path, script: str, user_version: int = 0) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {user_version}")
        conn.commit()
    finally:
        conn.close()


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "prediction-log"]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another connection holds the database's write lock meanwhile."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("COMMIT")
        blocker.close()


# Lifecycle


def test_prediction_log_constructor_creates_no_file_and_no_thread(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    threads = writer_threads()
    log = PredictionLog(path)
    assert not path.exists()
    assert writer_threads() == threads
    assert log.start() is log
    assert path.is_file()
    (started,) = set(writer_threads()) - set(threads)
    assert started.is_alive()
    log.close()
    assert not started.is_alive()
    assert writer_threads() == threads


def test_prediction_log_context_manager_starts_and_closes(tmp_path: Path) -> None:
    threads = writer_threads()
    with PredictionLog(tmp_path / "p.db") as log:
        assert len(writer_threads()) == len(threads) + 1
        record(log, "r")
    assert writer_threads() == threads
    assert len(raw_rows(tmp_path / "p.db")) == 1


def test_prediction_log_reads_and_writes_before_start_raise(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.db")
    for call in (log.count, log.flush, log.prune, lambda: log.recent(5)):
        with pytest.raises(RuntimeError, match=r"not started; call start\(\) first"):
            call()
    with pytest.raises(RuntimeError, match="not started"):
        asyncio.run(log.write_from_loop())
    assert not (tmp_path / "p.db").exists()


def test_prediction_log_start_twice_raises(log: PredictionLog) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        log.start()


def test_prediction_log_close_without_start_drops_what_was_queued(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.db")
    record_batch(log, "queued", 3)
    log.close()
    assert log.dropped == 3
    assert not (tmp_path / "p.db").exists()


def test_prediction_log_records_queued_before_start_are_written(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.db")
    record(log, "early")
    with log:
        assert log.flush()
        assert log.predicted_label("early") == "setosa"


# Schema versions


def test_prediction_log_start_creates_the_schema_at_user_version_4(log: PredictionLog) -> None:
    assert pragma(log.path, "user_version") == schema.USER_VERSION == 4
    assert pragma(log.path, "journal_mode") == "wal"
    # 4 KiB pages: a WAL commit of a few single-row requests writes a few KiB, not 64 KiB
    # per page it touched.
    assert pragma(log.path, "page_size") == 4096
    assert raw_rows(log.path) == raw_rows(log.path, "feedback") == []


def test_prediction_log_start_keeps_the_pages_of_an_existing_64k_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big-pages.db"
    with monkeypatch.context() as patched:
        patched.setattr(schema, "PAGE_SIZE", 65536)  # as the log made them before
        with PredictionLog(path) as log:
            assert log.record("old", "v1", [[1.0, 2.0, 3.0, 4.0]], ["setosa"], CLASSES, [[1, 0, 0]])
    assert schema.PAGE_SIZE == 4096
    with PredictionLog(path) as log:
        assert log.record("new", "v1", [[5.0, 6.0, 7.0, 8.0]], ["setosa"], CLASSES, [[1, 0, 0]])
        assert log.flush()
        assert log.count() == 2 and log.predicted_label("old") == "setosa"
    assert pragma(path, "page_size") == 65536


def test_prediction_log_start_migrates_a_version_0_file(tmp_path: Path) -> None:
    path = tmp_path / "v0.db"
    make_file(path, VERSION_0_DDL)
    with PredictionLog(path) as log:
        assert pragma(path, "user_version") == 4
        conn = sqlite3.connect(path)
        try:
            indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
        assert "predictions_version" not in indexes
        assert "feedback_version" in indexes
        assert "shadow_predictions" in indexes
        # The old rows are kept and usable.
        assert log.count() == 2
        assert log.recent(10).features.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
        assert log.add_feedback("old:1", "virginica") == "virginica"
        record(log, "new")
        assert log.flush() and log.count() == 3


def test_schema_migrate_0_to_1_drops_the_old_index_and_sets_the_version(tmp_path: Path) -> None:
    path = tmp_path / "v0.db"
    make_file(path, VERSION_0_DDL)
    assert schema.MIGRATIONS[0] is schema.migrate_0_to_1
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.migrate_0_to_1(conn)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert schema.user_version(conn) == 1
    finally:
        conn.close()
    assert names == {
        "predictions",
        "feedback",
        "feedback_version",
        "sqlite_autoindex_predictions_1",
        "sqlite_autoindex_feedback_1",
    }
    assert len(raw_rows(path)) == 1


def test_schema_migrate_1_to_2_adds_the_conflicted_column_to_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    make_file(path, VERSION_0_DDL)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.migrate_0_to_1(conn)
        assert schema.MIGRATIONS[1] is schema.migrate_1_to_2
        schema.migrate_1_to_2(conn)
        assert schema.user_version(conn) == 2
        assert conn.execute("SELECT request_id, conflicted FROM predictions").fetchall() == [
            ("old", 0)
        ]
    finally:
        conn.close()


def test_schema_migrate_2_to_3_adds_the_shadow_table_and_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    make_file(path, VERSION_0_DDL)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.migrate_0_to_1(conn)
        schema.migrate_1_to_2(conn)
        assert schema.MIGRATIONS[2] is schema.migrate_2_to_3
        schema.migrate_2_to_3(conn)
        assert schema.user_version(conn) == 3
        columns = [r[1] for r in conn.execute("PRAGMA table_info(shadow_predictions)")]
        assert conn.execute("SELECT request_id FROM predictions").fetchall() == [("old",)]
    finally:
        conn.close()
    assert columns == [
        "request_id",
        "created_at",
        "model_version",
        "n_rows",
        "labels",
        "probabilities",
        "classes",
    ]


def test_prediction_log_start_refuses_a_newer_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    make_file(path, VERSION_0_DDL, user_version=5)
    threads = writer_threads()
    log = PredictionLog(path)  # the constructor does no I/O: start() refuses
    with pytest.raises(PredictionLogError) as raised:
        log.start()
    message = str(raised.value)
    assert str(path) in message
    assert "schema version 5" in message and "newer petalflow" in message
    assert REMEDY in message
    assert pragma(path, "user_version") == 5  # left as it was
    assert writer_threads() == threads  # no thread started for a refused file


def test_prediction_log_start_refuses_a_file_of_the_per_row_layout(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_file(
        path, "CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id TEXT, label TEXT)"
    )
    with pytest.raises(PredictionLogError, match="older petalflow") as raised:
        PredictionLog(path).start()
    assert str(path) in str(raised.value) and REMEDY in str(raised.value)
    assert pragma(path, "user_version") == 0


def test_prediction_log_start_refuses_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "p.db"
    with pytest.raises(PredictionLogError) as raised:
        PredictionLog(path).start()
    message = str(raised.value)
    assert f"cannot use {path} as the prediction log" in message
    assert "directory exists and is writable" in message and REMEDY in message


# Recording and reading


def test_prediction_log_uses_wal_mode(log: PredictionLog) -> None:
    conn = sqlite3.connect(log.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_prediction_log_round_trips_a_prediction(log: PredictionLog) -> None:
    assert log.record("req-1", "3", [ROW], ["setosa"], CLASSES, [PROBA], created_at=1700000000.5)
    assert log.flush()
    (row,) = raw_rows(log.path)
    assert row["request_id"] == "req-1"
    assert row["created_at"] == 1700000000.5
    assert row["model_version"] == "3"
    assert row["n_rows"] == 1
    assert floats(row["features"], 1) == [ROW]
    assert row["labels"] == bytes([CLASSES.index("setosa")])  # a class position per row
    assert floats(row["probabilities"], 1) == [list(PROBABILITIES.values())]
    assert json.loads(row["classes"]) == list(PROBABILITIES)
    assert raw_rows(log.path, "feedback") == []
    features, labels = log.recent(10)
    assert features.tolist() == [ROW]
    assert labels == ["setosa"]
    assert log.count() == 1
    assert log.latest_model_version() == "3"


def test_prediction_log_recent_returns_newest_oldest_first_per_version(log: PredictionLog) -> None:
    for i in range(10):
        record(log, f"r{i}", LABELS[i % 3], "1" if i % 2 else "2", [float(i), 0, 0, 0])
    log.flush()
    features, labels = log.recent(3)
    assert features[:, 0].tolist() == [7.0, 8.0, 9.0]
    assert labels == ["versicolor", "virginica", "setosa"]
    features, _ = log.recent(3, model_version="1")
    assert features[:, 0].tolist() == [5.0, 7.0, 9.0]
    assert log.count(model_version="2") == 5
    assert log.recent(5, model_version="9").features.shape == (0, 0)
    assert log.latest_model_version() == "1"


def test_prediction_log_record_takes_rows_of_any_width(log: PredictionLog) -> None:
    assert log.record("k2", "1", [[1.0, 2.0], [3.0, 4.0]], ["a", "b"], ["a", "b"], [[1, 0], [0, 1]])
    assert log.record("k6", "2", np.ones((1, 6)), ["a"], ["a", "b"], np.array([[0.5, 0.5]]))
    log.flush()
    assert log.recent(10, model_version="1").features.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert log.recent(10, model_version="2").features.shape == (1, 6)


def test_prediction_log_recent_keeps_the_rows_of_the_newest_width(log: PredictionLog) -> None:
    record(log, "four-old")
    assert log.record("two", "1", [[1.0, 2.0]], ["a"], ["a"], [[1.0]])
    record(log, "four-new", row=[9.0, 9.0, 9.0, 9.0])
    log.flush()
    # Going back in time, "two" has another width: older rows are not comparable.
    features, labels = log.recent(10)
    assert features.tolist() == [[9.0, 9.0, 9.0, 9.0]]
    assert labels == ["setosa"]


def test_prediction_log_record_rejects_a_flat_row(log: PredictionLog) -> None:
    with pytest.raises(ValueError, match="features must be rows"):
        log.record("r", "1", ROW, ["a"] * 4, CLASSES, [PROBA] * 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probabilities must be rows"):
        log.record("r", "1", [ROW] * 3, ["a"] * 3, CLASSES, PROBA)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="features must be rows"):  # arrays too
        log.record("r", "1", np.array(ROW), ["a"] * 4, CLASSES, np.array([PROBA] * 4))
    assert len(log._writer.pending) == 0


def test_prediction_log_stores_labels_as_class_positions_or_json_when_not_a_class(
    log: PredictionLog,
) -> None:
    labels = [LABELS[i % 3] for i in range(300)]
    assert log.record("codes", "1", np.zeros((300, 4)), labels, LABELS, np.full((300, 3), 0.5))
    assert log.record("other", "1", [ROW, ROW], ["setosa", "unseen"], LABELS, [PROBA, PROBA])
    assert log.flush()
    codes, other = raw_rows(log.path)
    assert codes["labels"] == bytes(i % 3 for i in range(300))
    assert json.loads(other["labels"]) == ["setosa", "unseen"]
    assert log.recent(302).labels == [*labels, "setosa", "unseen"]
    assert log.predicted_label("codes:299") == LABELS[299 % 3]
    assert log.predicted_label("other:1") == "unseen"


def test_prediction_log_ignores_duplicate_request_id(log: PredictionLog) -> None:
    record(log, "dup", "setosa")
    record(log, "dup", "virginica")
    log.flush()
    assert [row["labels"] for row in raw_rows(log.path)] == [bytes([CLASSES.index("setosa")])]


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
    rows = {row["request_id"]: row for row in raw_rows(log.path, "feedback")}
    assert rows["req-2"]["true_label"] == "versicolor"
    assert rows["req-2"]["predicted_label"] == "setosa"
    assert rows["req-2"]["row_index"] == 0
    assert rows["req-2"]["model_version"] == "1"
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
    with pytest.raises(UnknownLabelError, match="unknown label 'rose'") as raised:
        log.add_feedback("req-1", "rose")
    assert raised.value.details[0]["field"] == "true_label"
    assert raised.value.details[0]["rule"] == "enum"
    log.flush()
    assert raw_rows(log.path, "feedback") == []


def test_prediction_log_feedback_label_is_one_of_the_predicting_models_classes(
    log: PredictionLog,
) -> None:
    # Two versions with other classes in one log (a reload since the first prediction):
    # each row takes the labels of the model that predicted it, not of the one served now.
    record(log, "iris-row", "setosa", version="iris")
    wine = ["class_0", "class_1", "class_2"]
    assert log.record("wine-row", "wine", [ROW], ["class_1"], wine, [PROBA])
    assert log.add_feedback("iris-row", "virginica") == "setosa"
    assert log.add_feedback("wine-row", "class_2") == "class_1"
    record(log, "iris-2", "setosa", version="iris")
    with pytest.raises(UnknownLabelError, match=r"'class_0'.*knows \['setosa'"):
        log.add_feedback("iris-2", "class_0")
    stored = [tuple(r)[:3] for r in raw_rows(log.path, "feedback")]
    assert sorted(stored) == [("iris-row", 0, "virginica"), ("wine-row", 0, "class_2")]


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
    assert pragma(path, "user_version") == schema.USER_VERSION


def test_prediction_log_close_writes_queued_rows_and_drops_later_ones(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    log = PredictionLog(path).start()
    for i in range(100):
        record(log, f"r{i}")
    log.close()
    assert not log.record("late", "1", [ROW], ["setosa"], CLASSES, [PROBA])
    assert log.dropped == 1
    assert len(raw_rows(path)) == 100


def test_prediction_log_two_instances_writing_concurrently_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logs = [PredictionLog(path, batch_size=7).start(), PredictionLog(path, batch_size=13).start()]
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


def test_prediction_log_record_never_waits_for_a_locked_database(tmp_path: Path) -> None:
    """``record`` never touches SQLite: while another connection holds the write lock it
    still queues (True) at once; a record that wrote would wait for that lock, held by
    this very thread, then fail."""
    path = tmp_path / "p.db"
    with PredictionLog(path, busy_timeout=1.0) as log:
        with locked(path):  # the writer thread now waits for the lock
            for i in range(1000):
                record(log, f"r{i}")  # asserts True
            assert not log.flush(timeout=0.2)  # really blocked: nothing could be written
            assert raw_rows(path) == []  # WAL: this reader is not blocked, and sees nothing
            assert log.dropped == 0
        assert log.flush()
        assert log.count() == 1000
        assert [row["request_id"] for row in raw_rows(path)] == [f"r{i}" for i in range(1000)]


def test_prediction_log_drops_instead_of_blocking_when_queue_is_full(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, max_pending=10, busy_timeout=30.0) as log:
        with locked(path):
            results = [
                log.record(f"r{i}", "1", [ROW], ["setosa"], CLASSES, [PROBA]) for i in range(100)
            ]
        log.flush()
        assert results.count(False) == log.dropped
        assert log.dropped >= 80
        assert log.count() == results.count(True)


def test_prediction_log_recent_empty_log_has_no_rows(log: PredictionLog) -> None:
    features, labels = log.recent(500)
    assert isinstance(features, np.ndarray)
    assert features.shape == (0, 0)
    assert labels == []
    assert log.count() == 0
    assert log.latest_model_version() is None


def test_prediction_log_stores_a_batch_as_one_row_and_recent_returns_its_rows(
    log: PredictionLog,
) -> None:
    record_batch(log, "big", 1000)
    log.flush()
    (row,) = raw_rows(log.path)
    assert row["request_id"] == "big" and row["n_rows"] == 1000
    assert json.loads(row["classes"]) == list(LABELS)
    assert len(row["features"]) == 1000 * 4 * 8 and len(row["probabilities"]) == 1000 * 3 * 8
    features, labels = log.recent(2000)
    assert features.shape == (1000, 4)
    assert features[:, 0].tolist() == list(range(1000))
    assert labels == [LABELS[i % 3] for i in range(1000)]
    features, labels = log.recent(3)
    assert features[:, 0].tolist() == [997.0, 998.0, 999.0]
    assert labels == [LABELS[997 % 3], LABELS[998 % 3], LABELS[999 % 3]]


def test_prediction_log_recent_spans_requests_and_keeps_the_newest_rows(
    log: PredictionLog,
) -> None:
    record_batch(log, "a", 5, start=0)
    record(log, "b")  # ROW: first feature 5.1
    record_batch(log, "c", 3, start=10)
    log.flush()
    features, labels = log.recent(6)
    assert features[:, 0].tolist() == [2.0, 3.0, 4.0, 5.1, 10.0, 11.0, 12.0][-6:]
    assert labels == [*[LABELS[i % 3] for i in (3, 4)], "setosa", *LABELS]
    assert log.recent(0).features.shape == (0, 0)
    assert log.count() == 9
    assert log.count(model_version="1") == 9


def test_prediction_log_record_queues_one_item_holding_the_arrays(log: PredictionLog) -> None:
    """O(1) per request: one queue item, the caller's arrays neither copied nor converted."""
    features, proba = np.ones((10_000, 4)), np.full((10_000, 3), 1 / 3)
    labels = ["setosa"] * 10_000
    writers_pending, spy = log._writer.pending, deque[Any]()
    log._writer.pending = spy
    try:
        assert log.record("huge", "1", features, labels, LABELS, proba)
        assert len(spy) == 1
        item = spy.popleft()
    finally:
        log._writer.pending = writers_pending
    assert item.features is features and item.probabilities is proba and item.labels is labels
    writers_pending.append(item)
    assert log.flush()
    assert log.count() == 10_000 and len(raw_rows(log.path)) == 1


def test_prediction_log_serializes_numpy_arrays_and_lists_alike(log: PredictionLog) -> None:
    values = np.arange(8.0).reshape(2, 4)
    proba = np.asfortranarray([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])  # not C-contiguous
    assert log.record("np", "1", values, ["setosa", "virginica"], LABELS, proba)
    assert log.record("f32", "1", values.astype(np.float32), ["a", "b"], LABELS, proba)
    assert log.record("list", "1", values.tolist(), ["a", "b"], LABELS, proba.tolist())
    log.flush()
    rows = raw_rows(log.path)
    assert [floats(r["features"], 2) for r in rows] == [values.tolist()] * 3
    assert [floats(r["probabilities"], 2) for r in rows] == [proba.tolist()] * 3
    assert log.recent(6).features.tolist() == values.tolist() * 3


def test_prediction_log_one_row_as_lists_or_numpy_is_stored_alike(log: PredictionLog) -> None:
    row, proba = [5.1, 3.5, 1.4, 0.2], [0.9, 0.0625, 0.0375]
    assert log.record("one", "1", [row], ["versicolor"], LABELS, [proba])
    assert log.record("batch", "1", np.array([row]), ["versicolor"], LABELS, np.array([proba]))
    assert log.flush()
    one, batch = (dict(r) for r in raw_rows(log.path))
    columns = ("model_version", "n_rows", "features", "labels", "probabilities", "classes")
    assert [one[c] for c in columns] == [batch[c] for c in columns]
    assert floats(one["features"], 1) == [row] and json.loads(one["classes"]) == list(LABELS)
    assert log.predicted_label("one") == "versicolor"


def test_prediction_log_record_takes_numpy_scalars(log: PredictionLog) -> None:
    row: list[Any] = [np.float64(5.1), np.float32(3.5), 1.4, 0.2]
    assert log.record("np", "1", [row], ["setosa"], LABELS, [list(np.array([0.5, 0.25, 0.25]))])
    assert log.flush()
    (written,) = raw_rows(log.path)
    assert floats(written["features"], 1) == [[5.1, 3.5, 1.4, 0.2]]
    assert floats(written["probabilities"], 1) == [[0.5, 0.25, 0.25]]


def test_prediction_log_drops_what_it_cannot_serialize_and_keeps_writing(
    log: PredictionLog,
) -> None:
    # Queued as it is (record serializes nothing); the writer drops it and goes on.
    assert log.record("bad", "1", [[object()] * 4], ["setosa"], LABELS, [[1, 0, 0]])  # type: ignore[list-item]
    assert log.record("batch", "1", [[1, 2, 3, 4]], ["setosa"], LABELS, [[1, 0, 0]])
    assert log.record("good", "1", [[5.1, 3.5, 1.4, 0.2]], ["setosa"], LABELS, [[1, 0, 0]])
    assert log.flush()
    assert log.dropped == 1
    assert [row["request_id"] for row in raw_rows(log.path)] == ["batch", "good"]
    assert log.count() == 2


def test_prediction_log_drops_a_request_whose_rows_differ_in_length(log: PredictionLog) -> None:
    assert log.record("ragged", "1", [[1, 2], [3]], ["a", "b"], ["a"], [[1], [1]])
    assert log.record("3-d", "1", np.ones((1, 2, 2)), ["a"], ["a"], np.ones((1, 1)))
    record(log, "good")
    assert log.flush()
    assert log.dropped == 3  # counted in rows: 2 + 1
    assert [row["request_id"] for row in raw_rows(log.path)] == ["good"]


def test_prediction_log_record_after_close_is_dropped(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.db").start()
    log.close()
    assert not log.record("late", "1", [[5.1, 3.5, 1.4, 0.2]], ["setosa"], LABELS, [[1, 0, 0]])
    assert log.dropped == 1
    record_batch_result = log.record(
        "late-batch", "1", np.ones((3, 4)), ["a"] * 3, LABELS, np.ones((3, 3))
    )
    assert not record_batch_result
    assert log.dropped == 4


def test_prediction_log_record_rejects_mismatched_lengths(log: PredictionLog) -> None:
    with pytest.raises(ValueError, match="2 rows, 1 labels, 2 probas"):
        log.record("r", "1", np.ones((2, 4)), ["setosa"], LABELS, np.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"expected 3 probabilities per row \(one per class\), got 2"
    ):
        log.record("r", "1", np.ones((2, 4)), ["a", "b"], LABELS, np.ones((2, 2)))
    with pytest.raises(ValueError, match="2 labels, but 3 label codes"):
        log.record(
            "r", "1", np.ones((2, 4)), ["a", "b"], LABELS, np.ones((2, 3)), codes=np.ones(3, int)
        )
    with pytest.raises(ValueError, match=r"label codes must be integers .* not float64"):
        log.record("r", "1", np.ones((2, 4)), ["a", "b"], LABELS, np.ones((2, 3)), codes=np.ones(2))
    assert len(log._writer.pending) == 0


def test_prediction_log_batch_with_label_codes_reads_back_its_labels(log: PredictionLog) -> None:
    labels = ["virginica", "setosa", "versicolor", "virginica"]
    codes = np.array([LABELS.index(label) for label in labels])
    proba = np.eye(3)[codes]
    record = functools.partial(log.record, "coded", "1", np.ones((4, 4)))
    assert record(labels, LABELS, proba, codes=codes, remember=True)
    queued = log.lookup("coded")  # remembered, not written yet
    assert queued is not None and list(queued.labels) == labels
    assert log.flush()
    log._remembered.clear()
    found = log.lookup("coded")  # read from the file
    assert found is not None and list(found.labels) == labels


def test_prediction_log_drops_an_unserializable_request_and_keeps_writing(
    log: PredictionLog,
) -> None:
    assert log.record("bad", "1", [[object()] * 4], ["setosa"], LABELS, [[1, 0, 0]])  # type: ignore[list-item]
    record(log, "good")
    assert log.flush()
    assert log.dropped == 1
    assert [row["request_id"] for row in raw_rows(log.path)] == ["good"]


# Feedback on batch rows


def test_prediction_log_feedback_addresses_batch_rows_by_index(log: PredictionLog) -> None:
    record_batch(log, "b", 3)
    log.add_feedback("b:2", "setosa")
    assert log.predicted_label("b:2") == LABELS[2]
    assert log.labelled(10) == [("setosa", LABELS[2])]
    (row,) = raw_rows(log.path, "feedback")
    assert (row["request_id"], row["row_index"]) == ("b", 2)
    with pytest.raises(AlreadyLabelledError, match="'b:2' is already labelled 'setosa'"):
        log.add_feedback("b:2", "virginica")
    with pytest.raises(PredictionNotFoundError, match="request 'b' predicted 3 rows"):
        log.add_feedback("b:3", "setosa", wait=0.0)
    with pytest.raises(PredictionNotFoundError, match=r"'<request-id>:<index>', e\.g\. 'b:0'"):
        log.add_feedback("b", "setosa", wait=0.0)
    for other_spelling in ("b:x", "b:01", "b:+1", "b: 1", "b:\u0661"):  # not row 1's id
        with pytest.raises(PredictionNotFoundError, match="no logged prediction has request id"):
            log.add_feedback(other_spelling, "setosa", wait=0.0)
    log.add_feedback("b:0", "versicolor")  # row 0's id is "b:0"
    assert log.predicted_label("b") is None
    assert log.predicted_label("b:3") is None
    assert log.predicted_label("nope:0") is None


def test_prediction_log_one_row_batch_answers_to_both_ids(log: PredictionLog) -> None:
    record_batch(log, "one", 1)
    record(log, "single")
    log.flush()
    assert log.predicted_label("one") == log.predicted_label("one:0") == "setosa"
    log.add_feedback("one:0", "virginica")
    with pytest.raises(AlreadyLabelledError, match="'one' is already labelled 'virginica'"):
        log.add_feedback("one", "setosa")
    log.add_feedback("single:0", "setosa")  # the same row as "single"
    with pytest.raises(AlreadyLabelledError):
        log.add_feedback("single", "setosa")


def test_prediction_log_feedback_prefers_an_exact_request_id_with_a_colon(
    log: PredictionLog,
) -> None:
    record_batch(log, "t0", 3)
    record(log, "t0:1", label="virginica")
    log.flush()
    assert log.predicted_label("t0:1") == "virginica"
    assert log.predicted_label("t0:2") == LABELS[2]


def test_prediction_log_feedback_waits_for_a_batch_of_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as api, PredictionLog(path) as other_worker:
        timer = threading.Timer(0.1, record_batch, (other_worker, "late", 4))
        timer.start()
        api.add_feedback("late:3", "setosa", wait=5.0)
        timer.join()
        assert api.labelled(1) == [("setosa", LABELS[0])]


# Retention


def test_prediction_log_retention_counts_rows_not_requests(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=250, prune_every=10**9) as log:
        for i in range(5):
            record_batch(log, f"b{i}", 100, start=100 * i)
        log.flush()
        assert log.count() == 500
        # b2 keeps the newest 250 rows whole: fewer than 250 rows are newer than it.
        assert log.prune() == 200
        assert log.count() == 300
        assert [row["request_id"] for row in raw_rows(log.path)] == ["b2", "b3", "b4"]
        assert log.recent(1000).features[:, 0].tolist() == list(range(200, 500))
        assert log.prune() == 0


def test_prediction_log_prune_skips_requests_without_rows(tmp_path: Path) -> None:
    """The prune reads only the oldest requests; empty ones must not make it miss the cut."""
    with PredictionLog(tmp_path / "p.db", max_rows=1000, prune_every=10**9) as log:
        for i in range(5):
            assert log.record(f"empty{i}", "1", [], [], LABELS, [])
        for i in range(1002):
            record(log, f"r{i}")
        log.flush()
        assert log.prune() == 2
        assert log.count() == 1000
        assert raw_rows(log.path)[0]["request_id"] == "r2"


def test_prediction_log_never_prunes_the_newest_request(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=50) as log:
        record_batch(log, "old", 10)
        record_batch(log, "huge", 100)
        log.flush()
        assert log.prune() == 10
        assert log.count() == 100


def test_prediction_log_prunes_batches_periodically(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=200, prune_every=100) as log:
        for i in range(20):
            record_batch(log, f"b{i}", 50, start=50 * i)
            log.flush()
            assert log.count() <= 200 + 100 + 50
        log.prune()
        assert log.count() == 200
        assert log.recent(200).features[:, 0].tolist() == list(range(800, 1000))


def test_prediction_log_prune_bounds_the_feedback_table(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=3) as log:
        record_batch(log, "b", 3)
        for i in range(3):
            log.add_feedback(f"b:{i}", "setosa")
        record(log, "last")
        log.add_feedback("last", "virginica")
        assert log.prune() == 0
        newest_first = [("virginica", "setosa"), ("setosa", LABELS[2]), ("setosa", LABELS[1])]
        assert log.labelled(10) == newest_first


def test_prediction_log_docstring_export_command_writes_a_line_per_row(
    log: PredictionLog, capsys: pytest.CaptureFixture[str]
) -> None:
    from petalflow.__main__ import main

    record_batch(log, "abc123", 3)
    log.flush()
    command = predictions.__doc__.split("::")[1].strip().splitlines()[0].split()
    assert command[:5] == ["python", "-m", "petalflow", "monitor", "export"]
    argv = [str(log.path) if a == "predictions.db" else a for a in command[3:]]
    assert main(argv) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split(",")[:6] == [
        "request_id", "row_index", "created_at", "model_version", "feature_0", "feature_1"
    ]  # fmt: skip
    assert [line.split(",")[:2] for line in lines] == [["abc123", str(i)] for i in range(3)]
    assert [float(line.split(",")[4]) for line in lines] == [0.0, 1.0, 2.0]


# The event-loop writer


async def _run_loop_writer(log: PredictionLog, until: Callable[[], bool]) -> None:
    """Run ``write_from_loop`` until ``until()`` holds (checked every 10 ms).

    The 60 s cap only turns a broken writer into a failure instead of a hang.
    """
    writer = asyncio.create_task(log.write_from_loop())
    try:
        for _ in range(6000):
            await asyncio.sleep(0.01)
            assert not writer.done(), "the loop writer stopped"
            if until():
                return
        raise AssertionError("the loop writer never got there")
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def test_prediction_log_loop_writer_writes_without_flush_and_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_CHECKPOINT_DRAINS", 4)  # every 0.2 s here
    checkpoint, checkpoints = Writer._checkpoint, []

    def counted(self: Writer, conn: sqlite3.Connection) -> None:
        checkpoint(self, conn)
        checkpoints.append(conn)

    monkeypatch.setattr(Writer, "_checkpoint", counted)
    path = tmp_path / "p.db"
    with PredictionLog(path, linger=3600) as log:  # the thread sleeps: the loop writes
        log._writer.linger = 0.05
        for i in range(300):
            assert log.record(f"r{i}", "1", [ROW], ["setosa"], LABELS, [[0.9, 0.05, 0.05]])
        asyncio.run(_run_loop_writer(log, lambda: bool(checkpoints)))
        assert not log._writer.pending
        # Checkpointed: the rows are in the database file itself, not only in its WAL.
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)
        assert len(raw_rows(copy)) == 300


def test_prediction_log_loop_writer_never_waits_for_a_locked_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop only encodes: its periods go on while another connection holds the
    file's lock (the thread waits for it), and the rows land once the lock is released."""
    spread, periods = writer_module.pacing.spread, []

    async def counted(writer: Writer, period_end: float) -> bool:
        behind = await spread(writer, period_end)
        periods.append(behind)
        return behind

    monkeypatch.setattr(writer_module.pacing, "spread", counted)
    path = tmp_path / "p.db"
    with PredictionLog(path, busy_timeout=30.0, linger=0.05) as log:
        with locked(path):
            for i in range(100):
                record(log, f"r{i}")
            # Three periods end while the lock is still held: the loop waited for nothing.
            asyncio.run(_run_loop_writer(log, lambda: len(periods) >= 3))
            assert raw_rows(path) == []
            assert not log._writer.pending
            assert periods[:3] == [False, False, False]
        assert log.flush()
        assert log.count() == 100 and log.dropped == 0


def test_prediction_log_loop_slice_is_bounded_and_leaves_the_rest_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_LOOP_CHUNK", 5)
    with PredictionLog(tmp_path / "p.db", linger=3600) as log:
        record_batch(log, "b", 4)
        for i in range(10):
            record(log, f"r{i}")
        assert log._writer.encode_slice() == 2  # the 4-row batch and one single row
        assert log.count() == 0  # encoded, not yet inserted: the thread's
        [encoded] = log._writer.encoded
        assert [item.request_id for item in encoded.kept] == ["b", "r0"]
        assert encoded.n_rows == 5
        assert len(log._writer.pending) == 9
        assert log.flush()
        assert log.count() == 14
        assert not log._writer.encoded


def test_prediction_log_loop_stops_encoding_while_the_thread_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_LOOP_CHUNK", 1)
    monkeypatch.setattr(writer_module, "_ENCODED_SLICES", 3)
    with PredictionLog(tmp_path / "p.db", linger=3600) as log:  # the thread sleeps
        for i in range(5):
            record(log, f"r{i}")
        assert [log._writer.encode_slice() for _ in range(4)] == [1, 1, 1, -1]
        assert [item.request_id for item in log._writer.pending] == ["r3", "r4"]
        assert log.flush()
        assert [r["request_id"] for r in raw_rows(log.path)] == [f"r{i}" for i in range(5)]


def test_prediction_log_insert_of_encoded_slices_on_a_busy_file_requeues_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_LOOP_CHUNK", 3)  # four slices, one transaction
    path = tmp_path / "p.db"
    with PredictionLog(path, busy_timeout=30.0, linger=3600) as log:  # the thread sleeps
        # Unserializable: dropped (and counted) once, by the loop's encoding.
        assert log.record("bad", "1", [[object()] * 4], ["setosa"], LABELS, [[1, 0, 0]])  # type: ignore[list-item]
        for i in range(10):
            record(log, f"r{i}")
        writer = log._writer
        while writer.pending:
            assert writer.encode_slice() > 0
        assert [len(e.kept) for e in writer.encoded] == [2, 3, 3, 2]  # "bad" was dropped
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        with locked(path), contextlib.closing(conn), writer._lock:
            for _ in range(3):
                assert writer._insert_encoded(conn) is False
            queued = [[item.request_id for item in e.kept] for e in writer.encoded]
            assert queued == [["r0", "r1"], ["r2", "r3", "r4"], ["r5", "r6", "r7"], ["r8", "r9"]]
        assert log.flush()
        assert log.count() == 10 and log.dropped == 1
        assert [r["request_id"] for r in raw_rows(path)] == [f"r{i}" for i in range(10)]


# The read-only reader


def test_prediction_log_reader_reads_what_the_log_wrote(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as log:
        record_batch(log, "b", 3)
        record(log, "s", "virginica", version="2")
        log.add_feedback("b:1", "setosa")
        assert log.flush()
        with PredictionLogReader(path) as reader:  # beside the running writer
            assert reader.count() == 4 and reader.count(model_version="2") == 1
            features, labels = reader.recent(2)
            assert features.tolist() == [[2.0, 0, 0, 0], ROW]
            assert labels == [LABELS[2], "virginica"]
            assert reader.recent(10, model_version="9").features.shape == (0, 0)
            assert reader.labelled(10) == [("setosa", LABELS[1])]
            assert reader.predicted_label("b:2") == LABELS[2]
            assert reader.predicted_label("b") is None
            assert reader.latest_model_version() == "2"
            assert reader.flush() is True


def test_prediction_log_reader_never_writes_or_migrates(tmp_path: Path) -> None:
    path = tmp_path / "v0.db"
    make_file(path, VERSION_0_DDL)
    before = path.read_bytes()
    reader = PredictionLogReader(path)
    with reader:
        assert reader.count() == 2
        assert reader.latest_model_version() == "7"
        with (
            reader._connection() as conn,
            pytest.raises(sqlite3.OperationalError, match="readonly"),
        ):
            conn.execute("DELETE FROM predictions")
    assert path.read_bytes() == before
    assert pragma(path, "user_version") == 0


def test_prediction_log_reader_requires_open(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path):
        pass
    reader = PredictionLogReader(path)
    with pytest.raises(RuntimeError, match=r"not open; call open\(\) first"):
        reader.count()
    reader.open().close()
    with pytest.raises(RuntimeError, match="not open"):
        reader.recent(5)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "no prediction log at"),
        ("newer", "newer petalflow"),
        ("per_row", "older petalflow"),
        ("no_table", "holds no prediction log"),
        ("not_sqlite", "cannot read"),
    ],
)
def test_prediction_log_reader_refuses_a_file_it_cannot_read(
    tmp_path: Path, kind: str, expected: str
) -> None:
    path = tmp_path / "p.db"
    if kind == "newer":
        make_file(path, VERSION_0_DDL, user_version=schema.USER_VERSION + 1)
    elif kind == "per_row":
        make_file(path, "CREATE TABLE predictions (id INTEGER PRIMARY KEY, label TEXT)")
    elif kind == "no_table":
        make_file(path, "CREATE TABLE other (x)")
    elif kind == "not_sqlite":
        path.write_bytes(b"not a database " * 100)
    with pytest.raises(PredictionLogError, match=expected) as raised:
        PredictionLogReader(path).open()
    assert str(path) in str(raised.value)
    assert not path.exists() if kind == "missing" else path.is_file()


# Reused request ids (two workers answering one X-Request-ID before either wrote it)


@pytest.mark.parametrize("same_features", [True, False])
def test_prediction_log_reused_id_never_takes_feedback_for_the_wrong_prediction(
    tmp_path: Path, same_features: bool
) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as first, PredictionLog(path) as second:
        record(first, "dup", row=[1.0, 2.0, 3.0, 4.0])
        other = [1.0, 2.0, 3.0, 4.0] if same_features else [9.0, 9.0, 9.0, 9.0]
        record(second, "dup", label="virginica", row=other)
        assert first.flush() and second.flush()
        assert first.count() == 1  # the first request's row is kept, once
        assert first.lookup("dup").features.tolist() == [[1.0, 2.0, 3.0, 4.0]]
        if same_features:  # the same request retried: its feedback is its own
            assert first.add_feedback("dup", "setosa") == "setosa"
        else:
            with pytest.raises(RequestIdConflictError, match="two requests with different"):
                first.add_feedback("dup", "setosa")
            assert first.labelled(10) == []


def test_prediction_log_lookup_finds_queued_remembered_and_written_requests(
    tmp_path: Path,
) -> None:
    with PredictionLog(tmp_path / "p.db", linger=60) as log:  # the thread stays asleep
        assert log.record("mine", "1", [ROW], ["setosa"], CLASSES, [PROBA], remember=True)
        assert log.lookup("mine") is not None  # queued: found in memory
        assert log.record("theirs", "1", [ROW], ["setosa"], CLASSES, [PROBA])
        assert log.lookup("theirs") is None  # not remembered and not written yet
        assert log.flush()
        found = log.lookup("theirs")
        assert found is not None and found.features.tolist() == [ROW]
        assert found.probabilities.tolist() == [PROBA] and found.model_version == "1"
        assert list(found.labels) == ["setosa"] and list(found.classes) == CLASSES
        assert log.lookup("nobody") is None


def test_prediction_log_lookup_keeps_one_read_connection_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []
    real = store_module.open_readonly

    def counting(path: Path, timeout: float) -> sqlite3.Connection:
        opened.append(path)
        return real(path, timeout)

    monkeypatch.setattr(store_module, "open_readonly", counting)
    with PredictionLog(tmp_path / "p.db", linger=0.02) as log:
        record(log, "kept")
        assert log.flush()
        for i in range(20):
            assert log.lookup(f"missing-{i}") is None
        assert log.lookup("kept") is not None
        assert len(opened) == 1  # not one per request
        (tmp_path / "p.db").rename(tmp_path / "p.db.1")
        with pytest.raises(PredictionLogUnavailableError, match="moved or deleted"):
            log.lookup("kept")
        record(log, "after")
        deadline = time.monotonic() + 20
        while not (log.health.up and log.flush()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert log.lookup("after") is not None and log.lookup("kept") is None
        assert len(opened) == 2  # reopened once, on the new file


def test_prediction_log_start_names_the_lock_another_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    PredictionLog(path).start().close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a sqlite3 shell, mid-transaction
    try:
        with pytest.raises(PredictionLogError) as raised:
            PredictionLog(path, busy_timeout=0.1).start()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(raised.value)
    assert f"cannot use {path} as the prediction log (database is locked)" in message
    assert "another process has held a lock on it" in message
    assert "end that transaction and start again" in message and REMEDY not in message


@pytest.mark.parametrize(
    ("code", "remedy"),
    [
        ("SQLITE_FULL", "free space on its disk"),
        ("SQLITE_BUSY", "another process has held a lock on it"),
        ("SQLITE_CANTOPEN", "check that its directory exists and is writable"),
    ],
)
def test_start_remedy_follows_sqlites_error_code(code: str, remedy: str) -> None:
    from petalflow.monitoring.prediction_log.schema import start_remedy

    exc = sqlite3.OperationalError("an error")
    exc.sqlite_errorname = code  # type: ignore[attr-defined]
    assert start_remedy(exc).startswith(remedy)
