"""Schema version 4 (features and probabilities as float64 BLOBs): the migration of a log
written by version 3 (JSON text), row for row, or its refusal; reads of an unmigrated one."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from petalflow.core.errors import PredictionLogError
from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader, schema

REMEDY = "move it away or point PREDICTION_LOG at a new file"
CLASSES = ["setosa", "versicolor", "virginica"]
SHADOW_CLASSES = [*CLASSES, "other"]
# Version 3's DDL, as petalflow wrote it (JSON text in features and probabilities).
VERSION_3_DDL = """
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL, features TEXT NOT NULL,
    labels TEXT NOT NULL, probabilities TEXT NOT NULL, classes TEXT NOT NULL,
    conflicted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE feedback (
    request_id TEXT NOT NULL, row_index INTEGER NOT NULL, true_label TEXT NOT NULL,
    predicted_label TEXT NOT NULL, model_version TEXT NOT NULL, labelled_at REAL NOT NULL,
    PRIMARY KEY (request_id, row_index));
CREATE INDEX feedback_version ON feedback (model_version, labelled_at);
CREATE TABLE shadow_predictions (
    request_id TEXT NOT NULL PRIMARY KEY, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL, labels TEXT NOT NULL,
    probabilities TEXT NOT NULL, classes TEXT NOT NULL);
PRAGMA user_version = 3;
"""
_KEPT = "id, request_id, created_at, model_version, n_rows, labels, classes, conflicted"


def dumps(value: Any) -> str:
    """JSON as the version-3 writer encoded it (orjson; NaN -> null)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def version_3_log(path: Path, ragged: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A version-3 file: a 50-row batch, a single row with a gap (NaN), an empty request,
    a conflicted id, feedback and a shadow answer; the (features, probabilities) written."""
    rng = np.random.default_rng(16)
    gap = rng.random((1, 4)) * 7
    gap[0, 2] = np.nan
    written = {
        "batch": (rng.random((50, 4)) * 7, rng.dirichlet(np.ones(3), 50)),
        "one": (gap, rng.dirichlet(np.ones(3), 1)),
        "empty": (np.empty((0, 4)), np.empty((0, 3))),
        "dup": (rng.random((2, 4)), rng.dirichlet(np.ones(3), 2)),
    }
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA page_size = 8192")  # neither SQLite's default nor the log's
        conn.executescript(VERSION_3_DDL)
        for i, (request_id, (features, proba)) in enumerate(written.items()):
            labels = [CLASSES[k] for k in proba.argmax(axis=1)] if len(proba) else []
            stored = dumps(features)
            if ragged and request_id == "one":
                stored = "[[1.0, 2.0], [3.0]]"
            conn.execute(
                "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (i + 1, request_id, 1000.0 + i, "v1", len(features), stored, dumps(labels),
                 dumps(proba), dumps(CLASSES), int(request_id == "dup")),
            )  # fmt: skip
        conn.execute(
            "INSERT INTO feedback VALUES ('batch', 3, 'virginica', ?, 'v1', 2000.0)",
            (CLASSES[int(written["batch"][1][3].argmax())],),
        )
        shadow = np.full((50, 4), 0.25)
        conn.execute(
            "INSERT INTO shadow_predictions VALUES ('batch', 1000.5, 's1', 50, ?, ?, ?)",
            (dumps(["other"] * 50), dumps(shadow), dumps(SHADOW_CLASSES)),
        )
        conn.commit()
    finally:
        conn.close()
    return written


def query(path: Path, sql: str) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def floats(blob: bytes, n_rows: int) -> np.ndarray:
    """A float64 BLOB decoded with struct (not the log's code), as n_rows rows."""
    values = np.array(struct.unpack(f"<{len(blob) // 8}d", blob))
    return values.reshape(n_rows, len(values) // n_rows if n_rows else 0)


def test_schema_migrate_3_to_4_converts_every_row_to_blobs_and_loses_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    written = version_3_log(path)
    before = query(path, f"SELECT {_KEPT} FROM predictions ORDER BY id")
    feedback = query(path, "SELECT * FROM feedback")
    with PredictionLog(path) as log:
        assert schema.MIGRATIONS[3] is schema.migrate_3_to_4
        assert query(path, "PRAGMA user_version") == [(4,)]
        assert query(path, f"SELECT {_KEPT} FROM predictions ORDER BY id") == before
        assert query(path, "SELECT * FROM feedback") == feedback
        assert log.count() == 50 + 1 + 0 + 2
        stored = query(path, "SELECT request_id, n_rows, features, probabilities FROM predictions")
        for request_id, n, features, proba in stored:
            want_features, want_proba = written[request_id]
            assert len(features) == want_features.size * 8 and len(proba) == want_proba.size * 8
            np.testing.assert_array_equal(floats(features, n).ravel(), want_features.ravel())
            np.testing.assert_array_equal(floats(proba, n).ravel(), want_proba.ravel())
        # Replay answers byte for byte what version 3 logged.
        replayed = log.lookup("batch")
        assert replayed is not None
        assert np.asarray(replayed.probabilities).tobytes() == written["batch"][1].tobytes()
        features, true_labels = log.labelled_rows(10)
        assert features.tolist() == [written["batch"][0][3].tolist()] and true_labels == [
            "virginica"
        ]
        assert [r.shadow for r in log.shadow_labelled(10, "v1", "s1")] == ["other"]
        record = log.record("new", "v1", [[1.0, 2.0, 3.0, 4.0]], ["setosa"], CLASSES, [[1, 0, 0]])
        assert record and log.flush() and log.count() == 54
    types = query(path, "SELECT DISTINCT typeof(features), typeof(probabilities) FROM predictions")
    assert types == [("blob", "blob")]
    assert query(path, "SELECT typeof(probabilities) FROM shadow_predictions") == [("blob",)]
    shadow_blob = query(path, "SELECT probabilities FROM shadow_predictions")[0][0]
    assert floats(shadow_blob, 50).tolist() == [[0.25] * 4] * 50
    assert query(path, "PRAGMA page_size") == [(8192,)]  # an existing file keeps its pages
    declared = {r[1]: r[2] for r in query(path, "PRAGMA table_info(predictions)")}
    assert declared["features"] == declared["probabilities"] == "BLOB"


def test_schema_refuses_a_version_3_file_it_cannot_convert_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    version_3_log(path, ragged=True)
    before = query(path, "SELECT * FROM predictions ORDER BY id")
    with pytest.raises(PredictionLogError) as raised:
        PredictionLog(path).start()
    message = str(raised.value)
    assert str(path) in message and REMEDY in message
    assert "schema version 3 that cannot be migrated to version 4" in message
    assert "request 'one'" in message
    assert query(path, "PRAGMA user_version") == [(3,)]
    assert query(path, "SELECT * FROM predictions ORDER BY id") == before  # rolled back


def test_the_reader_reads_an_unmigrated_version_3_file(tmp_path: Path) -> None:
    """The read-only reader (the monitor CLI) never migrates: it reads the JSON text."""
    path = tmp_path / "v3.db"
    written = version_3_log(path)
    with PredictionLogReader(path) as reader:
        features, labels = reader.recent(3)
        rows = list(reader.predicted_rows())
    expected = np.concatenate([written["one"][0], written["dup"][0]])
    np.testing.assert_array_equal(features, expected)
    assert len(labels) == 3
    assert len(rows) == 53
    assert rows[50]["request_id"] == "one" and np.isnan(rows[50]["feature_2"])
    assert rows[3]["proba_virginica"] == written["batch"][1][3, 2]
    assert query(path, "PRAGMA user_version") == [(3,)]


def test_schema_refuses_another_applications_database_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    # PREDICTION_LOG pointed at, e.g., a copy of mlflow.db: not adopted, not switched to
    # WAL, no table added.
    path = tmp_path / "mlflow.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT)")
        conn.execute("CREATE TABLE runs (run_uuid TEXT)")
    before = path.read_bytes()
    with pytest.raises(
        PredictionLogError,
        match=r"mlflow\.db is another SQLite database \(tables experiments, runs\), not a "
        r"prediction log; point PREDICTION_LOG at a new file",
    ):
        PredictionLog(path).start()
    assert path.read_bytes() == before
    assert query(path, "PRAGMA journal_mode") == [("delete",)]
