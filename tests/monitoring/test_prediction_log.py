"""The SQLite prediction log: WAL, round trip, batches, retention, feedback, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from petalflow.core.errors import AlreadyLabelledError, PredictionNotFoundError, UnknownLabelError
from petalflow.monitoring import prediction_log as predictions
from petalflow.monitoring.prediction_log import PredictionLog

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


def raw_rows(path: Path, table: str = "predictions") -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


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


def record_batch(log: PredictionLog, request_id: str, n: int, start: float = 0.0) -> None:
    """A batch of ``n`` rows whose first feature counts up from ``start``."""
    features = np.zeros((n, 4))
    features[:, 0] = np.arange(start, start + n)
    labels = [LABELS[i % 3] for i in range(n)]
    proba = np.full((n, 3), 1 / 3)
    assert log.record_batch(request_id, "1", features, labels, LABELS, proba)


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
    assert row["n_rows"] == 1
    assert json.loads(row["features"]) == [ROW]
    assert json.loads(row["labels"]) == ["setosa"]
    assert json.loads(row["probabilities"]) == [list(PROBABILITIES.values())]
    assert json.loads(row["classes"]) == list(PROBABILITIES)
    assert raw_rows(log.path, "feedback") == []
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
    assert [json.loads(row["labels"]) for row in raw_rows(log.path)] == [["setosa"]]


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
    with pytest.raises(UnknownLabelError, match="unknown label 'rose'"):
        log.add_feedback("req-1", "rose", allowed_labels=LABELS)
    log.flush()
    assert raw_rows(log.path, "feedback") == []


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
        with locked(path):  # the writer thread now waits for the lock
            started = time.perf_counter()
            for i in range(1000):
                record(log, f"r{i}")
            elapsed = time.perf_counter() - started
            assert not log.flush(timeout=0.2)  # really blocked: nothing could be written
        # Far below the 30 s busy timeout that a blocking record would have waited for.
        assert elapsed < 2
        assert log.flush()
        assert log.count() == 1000


def test_prediction_log_drops_instead_of_blocking_when_queue_is_full(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, max_pending=10, busy_timeout=30.0) as log:
        with locked(path):
            results = [log.record(f"r{i}", "1", ROW, "setosa", {}) for i in range(100)]
        log.flush()
        assert results.count(False) == log.dropped
        assert log.dropped >= 80
        assert log.count() == results.count(True)


def test_prediction_log_recent_empty_log_has_no_rows(log: PredictionLog) -> None:
    features, labels = log.recent(500)
    assert isinstance(features, np.ndarray)
    assert features.shape == (0, 4)
    assert labels == []


def test_prediction_log_stores_a_batch_as_one_row_and_recent_returns_its_rows(
    log: PredictionLog,
) -> None:
    record_batch(log, "big", 1000)
    log.flush()
    (row,) = raw_rows(log.path)
    assert row["request_id"] == "big" and row["n_rows"] == 1000
    assert json.loads(row["classes"]) == list(LABELS)
    assert len(json.loads(row["features"])) == len(json.loads(row["probabilities"])) == 1000
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
    assert log.recent(0).features.shape == (0, 4)
    assert log.count() == 9
    assert log.count(model_version="1") == 9


def test_prediction_log_record_batch_queues_one_item_holding_the_arrays(
    log: PredictionLog,
) -> None:
    """O(1) per request: one queue item, the caller's arrays neither copied nor converted."""
    features, proba = np.ones((10_000, 4)), np.full((10_000, 3), 1 / 3)
    labels = ["setosa"] * 10_000
    writers_pending, spy = log._pending, deque[object]()
    log._pending = spy
    try:
        assert log.record_batch("huge", "1", features, labels, LABELS, proba)
        assert len(spy) == 1
        item = spy.popleft()
    finally:
        log._pending = writers_pending
    assert item.features is features and item.probabilities is proba and item.labels is labels
    writers_pending.append(item)
    assert log.flush()
    assert log.count() == 10_000 and len(raw_rows(log.path)) == 1


def test_prediction_log_serializes_numpy_arrays_and_lists_alike(log: PredictionLog) -> None:
    values = np.arange(8.0).reshape(2, 4)
    proba = np.asfortranarray([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])  # not C-contiguous
    assert log.record_batch("np", "1", values, ["setosa", "virginica"], LABELS, proba)
    assert log.record_batch("f32", "1", values.astype(np.float32), ["a", "b"], LABELS, proba)
    assert log.record_batch("list", "1", values.tolist(), ["a", "b"], LABELS, proba.tolist())
    log.flush()
    rows = raw_rows(log.path)
    assert [json.loads(r["features"]) for r in rows] == [values.tolist()] * 3
    assert [json.loads(r["probabilities"]) for r in rows] == [proba.tolist()] * 3
    assert log.recent(6).features.tolist() == values.tolist() * 3


def test_prediction_log_record_one_writes_what_record_batch_writes(log: PredictionLog) -> None:
    row, proba = [5.1, 3.5, 1.4, 0.2], [0.9, 0.0625, 0.0375]
    assert log.record_one("one", "1", row, "versicolor", proba, LABELS)
    assert log.record_batch("batch", "1", [row], ["versicolor"], LABELS, [proba])
    assert log.flush()
    one, batch = (dict(r) for r in raw_rows(log.path))
    columns = ("model_version", "n_rows", "features", "labels", "probabilities", "classes")
    assert [one[c] for c in columns] == [batch[c] for c in columns]
    assert json.loads(one["features"]) == [row] and json.loads(one["classes"]) == list(LABELS)
    assert log.predicted_label("one") == "versicolor"


def test_prediction_log_record_one_takes_numpy_scalars(log: PredictionLog) -> None:
    row = [np.float64(5.1), np.float32(3.5), 1.4, 0.2]
    assert log.record_one("np", "1", row, "setosa", list(np.array([0.5, 0.25, 0.25])), LABELS)
    assert log.flush()
    (written,) = raw_rows(log.path)
    assert json.loads(written["features"]) == [[5.1, 3.5, 1.4, 0.2]]
    assert json.loads(written["probabilities"]) == [[0.5, 0.25, 0.25]]


def test_prediction_log_record_one_drops_what_it_cannot_serialize(log: PredictionLog) -> None:
    # Queued as it is (the hot path checks nothing); the writer drops it and goes on.
    assert log.record_one("bad", "1", [object()] * 4, "setosa", [1, 0, 0], LABELS)
    assert log.record_batch("batch", "1", [[1, 2, 3, 4]], ["setosa"], LABELS, [[1, 0, 0]])
    assert log.record_one("good", "1", [5.1, 3.5, 1.4, 0.2], "setosa", [1, 0, 0], LABELS)
    assert log.flush()
    assert log.dropped == 1
    assert [row["request_id"] for row in raw_rows(log.path)] == ["batch", "good"]
    assert log.count() == 2


def test_prediction_log_record_one_after_close_is_dropped(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.db")
    log.close()
    assert not log.record_one("late", "1", [5.1, 3.5, 1.4, 0.2], "setosa", [1, 0, 0], LABELS)
    assert log.dropped == 1


def test_prediction_log_record_batch_rejects_mismatched_lengths(log: PredictionLog) -> None:
    with pytest.raises(ValueError, match="2 rows, 1 labels, 2 probas"):
        log.record_batch("r", "1", np.ones((2, 4)), ["setosa"], LABELS, np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected 4 feature values, got 3"):
        log.record_batch("r", "1", np.ones((2, 3)), ["a", "b"], LABELS, np.ones((2, 3)))


def test_prediction_log_drops_an_unserializable_request_and_keeps_writing(
    log: PredictionLog,
) -> None:
    assert log.record_batch("bad", "1", [[object()] * 4], ["setosa"], LABELS, [[1, 0, 0]])
    record(log, "good")
    assert log.flush()
    assert log.dropped == 1
    assert [row["request_id"] for row in raw_rows(log.path)] == ["good"]


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
    with pytest.raises(PredictionNotFoundError, match="no logged prediction has request id"):
        log.add_feedback("b:x", "setosa", wait=0.0)
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
            assert log.record_batch(f"empty{i}", "1", [], [], LABELS, [])
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


def test_prediction_log_docstring_query_reads_rows_with_json_functions(
    log: PredictionLog,
) -> None:
    record_batch(log, "abc123", 3)
    log.flush()
    query = predictions.__doc__.split("::")[1]  # type: ignore[union-attr]
    conn = sqlite3.connect(log.path)
    try:
        rows = conn.execute(query).fetchall()
    finally:
        conn.close()
    assert [(r[0], r[1], r[2]) for r in rows] == [("abc123", i, LABELS[i]) for i in range(3)]
    assert [json.loads(r[3]) for r in rows] == [[float(i), 0, 0, 0] for i in range(3)]
    assert json.loads(rows[0][4]) == pytest.approx([1 / 3] * 3)


def test_prediction_log_refuses_a_file_of_the_old_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id TEXT, label TEXT)")
    conn.close()
    with pytest.raises(RuntimeError, match="older petalflow"):
        PredictionLog(path)


async def _run_loop_writer(log: PredictionLog, seconds: float) -> list[float]:
    """Run ``write_from_loop`` for ``seconds``; the longest gaps between 10 ms ticks."""
    writer = asyncio.create_task(log.write_from_loop())
    gaps, last, end = [], time.perf_counter(), time.perf_counter() + seconds
    while time.perf_counter() < end:
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    return sorted(gaps)[-3:]


def test_prediction_log_loop_writer_writes_without_flush_and_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predictions, "_CHECKPOINT_DRAINS", 4)  # every 0.2 s here
    path = tmp_path / "p.db"
    with PredictionLog(path, linger=3600) as log:  # the thread sleeps: the loop writes
        log.linger = 0.05
        for i in range(300):
            assert log.record_one(f"r{i}", "1", ROW, "setosa", [0.9, 0.05, 0.05], LABELS)
        asyncio.run(_run_loop_writer(log, 1.0))
        assert not log._pending
        # Checkpointed: the rows are in the database file itself, not only in its WAL.
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)
        assert len(raw_rows(copy)) == 300


def test_prediction_log_loop_writer_never_waits_for_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, busy_timeout=30.0, linger=0.05) as log:
        with locked(path):
            for i in range(100):
                record(log, f"r{i}")
            longest = asyncio.run(_run_loop_writer(log, 1.0))
        # The loop kept ticking (a blocking write would have stalled it for 30 s).
        assert longest[-1] < 5
        assert log.flush()
        assert log.count() == 100 and log.dropped == 0


def test_prediction_log_loop_drain_is_bounded_and_leaves_the_rest_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predictions, "_LOOP_ROWS", 5)
    with PredictionLog(tmp_path / "p.db", linger=3600) as log:
        record_batch(log, "b", 4)
        for i in range(10):
            record(log, f"r{i}")
        conn = sqlite3.connect(log.path, timeout=0, isolation_level=None)
        try:
            assert not log._drain(conn, lock_timeout=0, on_loop=True)
        finally:
            conn.close()
        assert log.count() == 5  # the 4-row batch and one single row: the budget reached
        assert len(log._pending) == 9
        assert log.flush()
        assert log.count() == 14


def test_prediction_log_loop_writer_retries_a_file_it_cannot_open_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At start-up the loop's connection can find the file busy (another connection
    recovering the WAL): the task does not die, the thread writes meanwhile, and the
    loop tries again at its next drain."""
    prepare, attempts = PredictionLog._prepare_loop_connection, []

    def busy_at_first(self: PredictionLog, conn: sqlite3.Connection) -> bool:
        attempts.append(conn)
        if len(attempts) <= 3:
            closed = sqlite3.connect(self.path)
            closed.close()  # executing on it raises, as a busy file does
            return prepare(self, closed)
        return prepare(self, conn)

    monkeypatch.setattr(PredictionLog, "_prepare_loop_connection", busy_at_first)
    with PredictionLog(tmp_path / "p.db", linger=0.05) as log:
        for i in range(50):
            record(log, f"r{i}")
        asyncio.run(_run_loop_writer(log, 0.6))
        assert len(attempts) >= 4
        assert not log._pending
        assert log.count() == 50 and log.dropped == 0


def test_prediction_log_loop_drain_on_a_busy_file_returns_at_once_and_requeues(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path, busy_timeout=30.0, linger=3600) as log:  # the thread sleeps
        # Unserializable: dropped (and counted) once, not again on every retry.
        assert log.record_one("bad", "1", [object()] * 4, "setosa", [1, 0, 0], LABELS)
        for i in range(10):
            record(log, f"r{i}")
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        with locked(path), contextlib.closing(conn):
            started = time.perf_counter()
            for _ in range(3):
                assert not log._drain(conn, lock_timeout=0, on_loop=True)
            assert time.perf_counter() - started < 2  # the busy timeout is 30 s
            assert [item[0] for item in log._pending] == [f"r{i}" for i in range(10)]
        assert log.flush()
        assert log.count() == 10 and log.dropped == 1
