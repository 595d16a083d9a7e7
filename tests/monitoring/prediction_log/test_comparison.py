"""Shadow answers in the prediction log: written by the one writer, read beside the
primary's answers and their feedback, pruned with them."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest

from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader
from petalflow.monitoring.prediction_log.comparison import Labelled
from tests.monitoring.conftest import CLASSES, ROW

SHADOW_CLASSES = ["setosa", "versicolor", "virginica", "other"]


def primary(log: PredictionLog, request_id: str, labels: list[str], version: str = "p1") -> None:
    n = len(labels)
    proba = [[1.0, 0.0, 0.0]] * n
    assert log.record(request_id, version, [ROW] * n, labels, CLASSES, proba)


def shadow(log: PredictionLog, request_id: str, labels: list[str], version: str = "s1") -> None:
    proba = np.full((len(labels), 4), 0.25)
    assert log.record_shadow(request_id, version, labels, SHADOW_CLASSES, proba)


def test_record_shadow_writes_a_shadow_row_beside_the_request(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db") as log:
        primary(log, "a", ["setosa", "virginica"])
        shadow(log, "a", ["setosa", "other"])
        assert log.flush()
    conn = sqlite3.connect(tmp_path / "p.db")
    try:
        found = conn.execute(
            "SELECT request_id, model_version, n_rows, labels, probabilities, classes "
            "FROM shadow_predictions"
        ).fetchall()
    finally:
        conn.close()
    assert found == [
        (
            "a",
            "s1",
            2,
            bytes([0, 3]),  # positions in the shadow's classes
            struct.pack("<8d", *[0.25] * 8),  # float64, row-major
            '["setosa","versicolor","virginica","other"]',
        )
    ]


def test_shadow_compared_pairs_rows_of_the_two_versions_only(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db") as log:
        primary(log, "a", ["setosa", "virginica"])
        shadow(log, "a", ["setosa", "other"])
        primary(log, "b", ["versicolor"])
        shadow(log, "b", ["virginica"])
        primary(log, "c", ["setosa"], version="p0")  # another served version
        shadow(log, "c", ["setosa"])
        primary(log, "d", ["setosa"])
        shadow(log, "d", ["setosa"], version="s0")  # another shadow version
        primary(log, "e", ["setosa"])  # not shadowed (sampled out)
        assert log.flush()
        # Newest request first, its rows in order.
        assert log.shadow_compared(100, "p1", "s1") == (
            ["versicolor", "setosa", "virginica"],
            ["virginica", "setosa", "other"],
        )
        assert log.shadow_compared(2, "p1", "s1") == (
            ["versicolor", "setosa"],
            ["virginica", "setosa"],
        )
        assert log.shadow_version_pairs() == [("p1", "s0", 1), ("p0", "s1", 1), ("p1", "s1", 2)]


def test_shadow_labelled_gives_truth_primary_and_shadow_of_each_labelled_row(
    tmp_path: Path,
) -> None:
    with PredictionLog(tmp_path / "p.db") as log:
        primary(log, "a", ["setosa", "virginica"])
        shadow(log, "a", ["setosa", "other"])
        primary(log, "b", ["versicolor"])
        shadow(log, "b", ["virginica"])
        primary(log, "c", ["versicolor"])  # labelled, not shadowed
        assert log.flush()
        log.add_feedback("a:1", "virginica")
        log.add_feedback("b", "virginica")
        log.add_feedback("c", "versicolor")
        assert log.shadow_labelled(100, "p1", "s1") == [
            Labelled("virginica", "versicolor", "virginica"),
            Labelled("virginica", "virginica", "other"),
        ]
        assert log.shadow_labelled(1, "p1", "s1") == [
            Labelled("virginica", "versicolor", "virginica")
        ]
        assert log.shadow_labelled(100, "p1", "s0") == []


def test_a_duplicate_shadow_answer_keeps_the_first(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db") as log:
        primary(log, "a", ["setosa"])
        shadow(log, "a", ["setosa"])
        shadow(log, "a", ["other"])
        assert log.flush()
        assert log.shadow_compared(10, "p1", "s1") == (["setosa"], ["setosa"])


def test_shadow_answers_dropped_when_the_queue_is_full_are_not_lost_predictions(
    tmp_path: Path,
) -> None:
    log = PredictionLog(tmp_path / "p.db", max_pending=1)
    primary(log, "a", ["setosa"])
    assert not log.record_shadow("a", "s1", ["setosa"], SHADOW_CLASSES, [[1, 0, 0, 0]])
    assert log.dropped == 0
    log.close()


def test_shadow_answers_fill_only_half_the_queue_leaving_room_for_requests(
    tmp_path: Path,
) -> None:
    log = PredictionLog(tmp_path / "p.db", max_pending=4)  # not started: nothing drains
    primary(log, "a", ["setosa"])
    shadow(log, "a", ["setosa"])
    assert not log.record_shadow("b", "s1", ["setosa"], SHADOW_CLASSES, [[1, 0, 0, 0]])
    primary(log, "b", ["setosa"])
    primary(log, "c", ["setosa"])  # the fourth item: requests may fill the queue
    assert not log.record("d", "p1", [ROW], ["setosa"], CLASSES, [[1.0, 0.0, 0.0]])
    assert log.dropped == 1
    log.close()


def test_prune_keeps_the_newest_max_rows_shadow_answers(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "p.db", max_rows=1000) as log:
        for i in range(1005):
            primary(log, f"r{i}", ["setosa"])
            shadow(log, f"r{i}", ["setosa"])
        assert log.flush()
        log.prune()
        primary_labels, _ = log.shadow_compared(5000, "p1", "s1")
        assert len(primary_labels) == 1000
    conn = sqlite3.connect(tmp_path / "p.db")
    try:
        oldest = conn.execute("SELECT MIN(rowid), COUNT(*) FROM shadow_predictions").fetchone()
        kept = conn.execute("SELECT request_id FROM shadow_predictions ORDER BY rowid").fetchone()
    finally:
        conn.close()
    assert oldest[1] == 1000
    assert kept == ("r5",)


def test_the_reader_compares_nothing_in_a_log_without_the_shadow_table(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as log:
        primary(log, "a", ["setosa"])
        assert log.flush()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE shadow_predictions")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with PredictionLogReader(path) as reader:
        assert reader.shadow_compared(10, "p1", "s1") == ([], [])
        assert reader.shadow_labelled(10, "p1", "s1") == []
        assert reader.shadow_version_pairs() == []


@pytest.mark.parametrize("limit", [0, -1])
def test_shadow_compared_with_no_window_reads_nothing(tmp_path: Path, limit: int) -> None:
    with PredictionLog(tmp_path / "p.db") as log:
        primary(log, "a", ["setosa"])
        shadow(log, "a", ["setosa"])
        assert log.flush()
        assert log.shadow_compared(limit, "p1", "s1") == ([], [])
