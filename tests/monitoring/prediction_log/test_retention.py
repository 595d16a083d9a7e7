"""Retention: what a prune deletes, that it holds the write lock only to delete, and that
a total read before the lock never makes it delete more than it should."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from petalflow.monitoring.prediction_log import PredictionLog, database, retention
from tests.monitoring.conftest import CLASSES, PROBA, record, wait_for


def logged(path: Path, n: int, start: int = 0, rows: int | list[int] = 1) -> None:
    """Requests r<start> to r<start + n - 1>, of ``rows`` rows each (or rows[i] for r<i>)."""
    with PredictionLog(path) as log:
        for i in range(start, start + n):
            k = rows if isinstance(rows, int) else rows[i - start]
            features, probabilities = [[float(i), 1.0, 2.0, 3.0]] * k, [PROBA] * k
            log.record(f"r{i}", "1", features, ["setosa"] * k, CLASSES, probabilities)
        assert log.flush()


def truth(path: Path) -> retention.Survey:
    """The log's rows and ids, counted by hand in Python (not by the code under test)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, n_rows FROM predictions").fetchall()
    ids = [r[0] for r in rows]
    return retention.Survey(sum(r[1] for r in rows), min(ids, default=None), max(ids, default=None))


def full_counts(statements: list[str]) -> int:
    """How many of the traced statements read every row's count."""
    return sum(s.startswith("SELECT COALESCE(SUM(n_rows), 0), MIN(id)") for s in statements)


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
    """While the event loop encodes, the thread surveys without the writer lock (which
    flush() takes) and holds it only to insert and to delete."""
    survey, locked_during_survey = retention.survey, []

    def spied(conn: sqlite3.Connection, known: object = None) -> retention.Survey | None:
        locked_during_survey.append(log._writer._lock.locked())
        return survey(conn, known)  # type: ignore[arg-type]

    monkeypatch.setattr(retention, "survey", spied)
    with PredictionLog(tmp_path / "p.db", max_rows=3, prune_every=5, linger=0.02) as log:
        writer = log._writer
        writer._loop_writing = True  # as while the event loop encodes: the thread inserts
        for i in range(6):
            record(log, f"r{i}")
        assert writer.encode_slice() == 6
        writer._wake.set()
        wait_for(lambda: bool(locked_during_survey) and log.count() <= 3)
        writer._loop_writing = False
    assert locked_during_survey[0] is False
    assert kept(tmp_path / "p.db") == ["r3", "r4", "r5"]


def test_survey_from_a_known_count_adds_only_the_rows_written_since(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logged(path, 4, rows=3)
    statements: list[str] = []
    with database.connect(path, 1.0) as conn:
        known = retention.survey(conn)
        assert known == truth(path) == (12, 1, 4)
        logged(path, 2, start=4, rows=5)
        conn.set_trace_callback(statements.append)
        assert retention.survey(conn, known) == truth(path) == (22, 1, 6)
        assert retention.survey(conn, retention.Survey(12, 1, 6)) == (12, 1, 6)  # none since
    assert full_counts(statements) == 0


@pytest.mark.parametrize("known", [retention.Survey(12, 2, 4), retention.Survey(7, None, None)])
def test_survey_counts_every_row_when_the_known_oldest_is_gone_or_unknown(
    tmp_path: Path, known: retention.Survey
) -> None:
    """Another prune deleted the oldest request the count started from (or there is no
    count): the known total is stale, so every row is read again."""
    path = tmp_path / "p.db"
    logged(path, 4, rows=3)
    statements: list[str] = []
    with database.connect(path, 1.0) as conn:
        conn.set_trace_callback(statements.append)
        assert retention.survey(conn, known) == truth(path) == (12, 1, 4)
    assert full_counts(statements) == 1


@pytest.mark.parametrize(("max_rows", "kept_ids"), [(7, ["r2", "r3", "r4"]), (100, None)])
def test_prune_counted_returns_the_log_as_it_left_it(
    tmp_path: Path, max_rows: int, kept_ids: list[str] | None
) -> None:
    path = tmp_path / "p.db"
    logged(path, 5, rows=3)  # 15 rows: keep the 3 newest requests (9 rows) for max_rows=7
    with database.connect(path, 1.0) as conn:
        pruned = retention.prune_counted(conn, max_rows, path)
    assert kept(path) == (kept_ids or [f"r{i}" for i in range(5)])
    assert pruned.deleted == 15 - truth(path).total
    assert pruned.after == truth(path)


@pytest.mark.parametrize(
    ("rows", "max_rows", "kept_from", "window"),
    [
        ([1, 1, 1, 1, 1, 1], 4, 2, False),  # single rows: the oldest kept is found directly
        ([1, 1, 3, 1, 1], 4, 2, True),  # r2's 3 rows: the window finds it (5 rows kept)
        ([0, 1, 1, 1], 2, 2, False),  # a request without rows goes with the older ones
        ([2, 1, 1], 10, 0, False),  # nothing to delete
        ([0, 1, 1], 2, 0, False),  # exactly full: the request without rows stays too
        ([0, 0, 0, 0, 2, 2, 1], 2, 5, True),  # the window skips the requests without rows
    ],
)
def test_prune_deletes_the_requests_older_than_max_rows_newer_ones(
    tmp_path: Path, rows: list[int], max_rows: int, kept_from: int, window: bool
) -> None:
    """The requests kept, the rows deleted and the survey left, counted by hand."""
    path = tmp_path / "p.db"
    logged(path, len(rows), rows=rows)
    statements: list[str] = []
    with database.connect(path, 1.0) as conn:
        conn.set_trace_callback(statements.append)
        pruned = retention.prune_counted(conn, max_rows, path)
    assert kept(path) == [f"r{i}" for i in range(kept_from, len(rows))]
    assert pruned == (sum(rows[:kept_from]), truth(path))
    assert any("OVER (ORDER BY id)" in s for s in statements) is window


def test_prune_counted_after_another_prune_returns_no_count(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logged(path, 6)
    with database.connect(path, 1.0) as conn, database.connect(path, 1.0) as other:
        seen = retention.survey(conn)
        retention.prune(other, max_rows=3, path=path)
        assert retention.prune_counted(conn, 4, path, seen) == (0, None)


def test_counter_keeps_the_newest_rows_over_many_prunes_reading_every_row_rarely(
    tmp_path: Path,
) -> None:
    """23 rounds of 3 requests of 2 rows, a prune after each, max_rows 10: the 5 newest
    requests stay every time; every row is read on the first prune and on every
    RECOUNT_PRUNES-th after it, and only the rows since the last prune otherwise."""
    path = tmp_path / "p.db"
    counter, statements = retention.Counter(), []
    with database.connect(path, 1.0, create=True) as conn:
        conn.set_trace_callback(statements.append)
        for round_ in range(23):
            logged(path, 3, start=3 * round_, rows=2)
            counts_before = full_counts(statements)
            counter.prune(conn, 10, path, generation=0)
            newest = 3 * round_ + 3
            assert kept(path) == [f"r{i}" for i in range(max(0, newest - 5), newest)]
            recount = round_ % retention.RECOUNT_PRUNES == 0  # prunes 1, 11, 21
            assert full_counts(statements) - counts_before == int(recount), round_


def test_counter_counts_every_row_of_a_replaced_file(tmp_path: Path) -> None:
    """A new file (another generation) may reuse the old one's ids: its count restarts."""
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    logged(old, 6)
    logged(new, 3)
    counter = retention.Counter()
    with database.connect(old, 1.0) as conn:
        assert counter.prune(conn, 10, old, generation=0) == 0
    with database.connect(new, 1.0) as conn:
        assert counter.survey(conn, generation=0) == (6, 1, 6)  # the old file's count
        assert counter.survey(conn, generation=1) == truth(new) == (3, 1, 3)


def test_recount_prunes_is_the_documented_tenth() -> None:
    assert retention.RECOUNT_PRUNES == 10  # docs/serving.md and docs/performance.md say so


def test_prune_counted_after_rows_written_since_its_survey_leaves_their_count(
    tmp_path: Path,
) -> None:
    """Rows land between the unlocked survey and the lock: the survey the prune leaves
    ends at the newest of them, so the next one does not count them twice."""
    path = tmp_path / "p.db"
    logged(path, 5)
    with database.connect(path, 1.0) as conn:
        seen = retention.survey(conn)
        logged(path, 3, start=5)
        pruned = retention.prune_counted(conn, 4, path, seen)
        assert pruned == (4, truth(path)) and truth(path) == (4, 5, 8)
        assert retention.survey(conn, pruned.after) == truth(path)


@pytest.mark.parametrize("unreadable", [False, True])
def test_prune_counted_after_an_empty_or_unreadable_survey_counts_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unreadable: bool
) -> None:
    path = tmp_path / "p.db"
    logged(path, 0)
    with database.connect(path, 1.0) as conn:
        seen = retention.survey(conn)
        assert seen == (0, None, None)
        logged(path, 5)
        if unreadable:
            monkeypatch.setattr(retention, "survey", lambda *args: None)
            seen = None
        pruned = retention.prune_counted(conn, 3, path, seen)
    assert kept(path) == ["r2", "r3", "r4"]
    assert pruned == (2, truth(path))


@pytest.mark.parametrize(("counted", "max_rows", "kept_from"), [(300, 100, 30), (300, 150, 0)])
def test_prune_with_a_count_above_every_row_counts_them_again(
    tmp_path: Path, counted: int, max_rows: int, kept_from: int
) -> None:
    """Rows deleted by hand since the count: no request is old enough to keep by it, so
    the prune counts every row under the lock instead of deleting every request."""
    path = tmp_path / "p.db"
    logged(path, 130)
    with database.connect(path, 1.0) as conn:
        pruned = retention.prune_counted(conn, max_rows, path, retention.Survey(counted, 1, 130))
    assert kept(path) == [f"r{i}" for i in range(kept_from, 130)]
    assert pruned == (kept_from, truth(path))


def test_prune_with_max_rows_zero_deletes_every_request(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    logged(path, 130)  # ids past 125: the delete's bound is no small number
    with database.connect(path, 1.0) as conn:
        assert retention.prune_counted(conn, 0, path) == (130, None)
    assert kept(path) == []


def test_prune_that_cannot_take_the_lock_deletes_nothing_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    logged(path, 5)
    with database.connect(path, 1.0) as holder, database.connect(path, 0.0) as conn:
        holder.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.ERROR, logger=retention.__name__):
            assert retention.prune_counted(conn, 2, path) == (0, None)
        holder.execute("ROLLBACK")
    assert kept(path) == [f"r{i}" for i in range(5)]
    messages = [r.getMessage() for r in caplog.records if r.name == retention.__name__]
    assert messages == [f"could not prune {path}"]


def test_survey_of_an_unreadable_log_is_none_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    logged(path, 2)
    with database.connect(path, 1.0) as conn:
        conn.execute("DROP TABLE predictions")
        with caplog.at_level(logging.DEBUG, logger=retention.__name__):
            assert retention.survey(conn) is None
            assert retention.survey(conn, retention.Survey(2, 1, 2)) is None
    messages = [r.getMessage() for r in caplog.records if r.name == retention.__name__]
    assert len(messages) == 2 and all("no such table: predictions" in m for m in messages)


def test_prune_starts_from_the_survey_it_is_given(tmp_path: Path) -> None:
    """A survey from before another prune deleted one request: this prune leaves the
    predictions alone (its total is stale), where a survey of its own would delete."""
    path = tmp_path / "p.db"
    logged(path, 6)
    with database.connect(path, 1.0) as conn, database.connect(path, 1.0) as other:
        seen = retention.survey(conn)
        assert retention.prune(other, max_rows=5, path=path) == 1
        assert retention.prune(conn, max_rows=4, path=path, seen=seen) == 0
    assert kept(path) == [f"r{i}" for i in range(1, 6)]
