"""The log's tables, their version (``PRAGMA user_version``) and the migrations to it.

Version 0 is a file of a petalflow that never set ``user_version`` (the same tables, plus
the old ``predictions_version`` index); version 1 dropped that index; version 2 adds
``predictions.conflicted``; version 3 adds the ``shadow_predictions`` table (the
shadow model's answers, beside the primary's, by request id); version 4 (current) stores
features and probabilities as float64 BLOBs and labels as class positions, not JSON text
(a 1,000-row request took ~0.3 ms to serialize as JSON, and filled 36 pages of 4 KiB). A file of the older per-row layout (no ``n_rows`` column)
or of a newer version is refused, as is a version-3 file whose rows cannot be converted.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from petalflow.core.errors import PredictionLogError
from petalflow.monitoring.prediction_log.database import transaction
from petalflow.monitoring.prediction_log.encoding import float_blob

logger = logging.getLogger(__name__)

USER_VERSION = 4
PAGE_SIZE = 4096  # SQLite's default; see ensure_schema
REMEDY = "move it away or point PREDICTION_LOG at a new file"
# features and probabilities: little-endian float64, row-major, n_rows rows (encoding's
# float_blob); labels: encoding's label_codes (JSON text for a label that is not a class,
# over 256 classes, or a row migrated from version 3). `python -m petalflow monitor
# export` writes them out one line per row.
_PREDICTIONS = """CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL,
    features BLOB NOT NULL,  -- float64 [n_rows x n_features]
    labels BLOB NOT NULL,  -- a byte per row: its label's position in classes (see below)
    probabilities BLOB NOT NULL,  -- float64 [n_rows x n_classes], in the order of classes
    classes TEXT NOT NULL,  -- JSON [class0, class1, ...]
    conflicted INTEGER NOT NULL DEFAULT 0)  -- 1: the id was reused with other features"""
_TABLES = (
    _PREDICTIONS.format(name="predictions"),
    """CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL, row_index INTEGER NOT NULL, true_label TEXT NOT NULL,
    predicted_label TEXT NOT NULL, model_version TEXT NOT NULL, labelled_at REAL NOT NULL,
    PRIMARY KEY (request_id, row_index))""",
    "CREATE INDEX IF NOT EXISTS feedback_version ON feedback (model_version, labelled_at)",
)
# The shadow model's answer to a request the primary answered (SHADOW_MODEL_URI); its
# rows are the request's, in the same order, so that feedback ids address them too.
_SHADOW = """CREATE TABLE IF NOT EXISTS {name} (
    request_id TEXT NOT NULL PRIMARY KEY, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL,
    labels BLOB NOT NULL,  -- a byte per row: its label's position in the shadow's classes
    probabilities BLOB NOT NULL,  -- float64 [n_rows x n_classes] over the shadow's classes
    classes TEXT NOT NULL)  -- JSON: the shadow's classes"""
_SHADOW_TABLE = _SHADOW.format(name="shadow_predictions")


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the file's header (0 when never set)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def start_remedy(exc: sqlite3.Error) -> str:
    """What to do about an error opening the log, by SQLite's error code."""
    code = getattr(exc, "sqlite_errorname", "")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return (
            "another process has held a lock on it for longer than the busy timeout (a "
            "sqlite3 shell or a backup in a transaction): end that transaction and start "
            "again, or point PREDICTION_LOG at another file"
        )
    if code == "SQLITE_FULL":
        return "free space on its disk, or point PREDICTION_LOG at a file on another disk"
    return f"check that its directory exists and is writable, or {REMEDY}"


def has_log(conn: sqlite3.Connection) -> bool:
    """Whether the file holds a predictions table (of any layout)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'predictions'"
    return conn.execute(sql).fetchone() is not None


def _other_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of a file that holds no prediction log (another application's); none
    for a log, of any layout, or an empty file."""
    ours = ("predictions", "feedback", "shadow_predictions")
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    names = [row[0] for row in conn.execute(sql)]
    if "predictions" in names:
        return []
    return [n for n in names if n not in ours and not n.startswith("sqlite_")]


def check_version(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; PredictionLogError if this code cannot use the file."""
    version = user_version(conn)
    if version > USER_VERSION:
        raise PredictionLogError(
            f"{path} holds a prediction log of schema version {version}, written by a newer "
            f"petalflow (this one knows up to version {USER_VERSION}); upgrade petalflow, "
            f"or {REMEDY}"
        )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(predictions)")}
    if columns and "n_rows" not in columns:
        raise PredictionLogError(
            f"{path} holds a prediction log of an older petalflow (one row per prediction); "
            f"{REMEDY}"
        )
    return version


def migrate_0_to_1(conn: sqlite3.Connection) -> None:
    """Version 0 -> 1: drop the ``predictions_version`` index, then record the version.

    No query uses that index and every insert paid for it; the petalflow that wrote
    version 0 dropped it on every start, hidden in its DDL.
    """
    conn.execute("DROP INDEX IF EXISTS predictions_version")
    for statement in _TABLES:  # in case a version-0 file lacks the feedback table
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")


def migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: ``predictions.conflicted``, set when two requests with other
    features share a request id, so that feedback on that id is refused, not misattributed.
    Adding a column with a default rewrites no row."""
    conn.execute("ALTER TABLE predictions ADD COLUMN conflicted INTEGER NOT NULL DEFAULT 0")
    conn.execute("PRAGMA user_version = 2")


def migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Version 2 -> 3: the ``shadow_predictions`` table (additive: no row rewritten)."""
    conn.execute(_SHADOW_TABLE)
    conn.execute("PRAGMA user_version = 3")


def _blob(stored: bytes | str, n_rows: int, request_id: str) -> bytes:
    """A version-3 JSON table as a version-4 float64 BLOB; ValueError naming the request
    if the JSON is not an (n_rows, k) table of numbers."""
    if isinstance(stored, bytes):
        return stored
    try:
        table = np.array(orjson.loads(stored), dtype=float)
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise ValueError(f"request {request_id!r}: {exc}") from exc
    if len(table) != n_rows or (n_rows and table.ndim != 2):
        raise ValueError(f"request {request_id!r}: {n_rows} rows expected, got {table.shape}")
    return float_blob(table)


def migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """Version 3 -> 4: features and probabilities as float64 BLOBs. Both tables are
    copied row by row (ids and order kept) into tables of the new DDL, which replace them.
    ValueError naming the request for a row that does not convert (nothing is changed:
    the caller's transaction rolls back)."""
    conn.execute(_PREDICTIONS.format(name="predictions_v4"))
    old = conn.execute(
        "SELECT id, request_id, created_at, model_version, n_rows, features, labels, "
        "probabilities, classes, conflicted FROM predictions ORDER BY id"
    )
    conn.executemany(
        "INSERT INTO predictions_v4 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ((*r[:5], _blob(r[5], r[4], r[1]), r[6], _blob(r[7], r[4], r[1]), *r[8:]) for r in old),
    )
    conn.execute(_SHADOW.format(name="shadow_v4"))
    old = conn.execute(
        "SELECT request_id, created_at, model_version, n_rows, labels, probabilities, "
        "classes FROM shadow_predictions ORDER BY rowid"
    )
    conn.executemany(
        "INSERT INTO shadow_v4 VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((*r[:5], _blob(r[5], r[3], r[0]), r[6]) for r in old),
    )
    for table, new in (("predictions", "predictions_v4"), ("shadow_predictions", "shadow_v4")):
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {new} RENAME TO {table}")
    conn.execute("PRAGMA user_version = 4")


# MIGRATIONS[v] upgrades a file of version v to v + 1, in the caller's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: migrate_0_to_1,
    1: migrate_1_to_2,
    2: migrate_2_to_3,
    3: migrate_3_to_4,
}


def create(conn: sqlite3.Connection) -> None:
    """The tables of the current version, in a file that has none."""
    for statement in (*_TABLES, _SHADOW_TABLE):
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {USER_VERSION}")


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables in a new file, or migrate an older one to ``USER_VERSION``.

    Raises PredictionLogError for a file this code cannot use, sqlite3.Error for one
    SQLite cannot open.
    """
    if other := _other_tables(conn):  # before WAL: the file is left as it is
        raise PredictionLogError(
            f"{path} is another SQLite database (tables {', '.join(other[:5])}), not a "
            "prediction log; point PREDICTION_LOG at a new file"
        )
    # A new file gets 4 KiB pages: a WAL commit writes each page it dirtied in full, and
    # with 64 KiB pages the event loop's slices of single-row requests wrote 128 KiB each
    # (docs/performance.md, "4 KiB pages"). A no-op on an existing file (its page size is
    # fixed in WAL mode).
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    # WAL lets readers and the writers of several processes share the file; the mode
    # cannot change inside a transaction.
    conn.execute("PRAGMA journal_mode=WAL")
    # One process at a time: uvicorn workers starting together must not both create.
    with transaction(conn):
        version = check_version(conn, path)
        if version == 0 and not has_log(conn):
            create(conn)
            logger.info("created the prediction log %s (schema version %d)", path, USER_VERSION)
            return
        while version < USER_VERSION:
            try:
                MIGRATIONS[version](conn)
            except ValueError as exc:
                raise PredictionLogError(
                    f"{path} holds a prediction log of schema version {version} that cannot "
                    f"be migrated to version {version + 1} ({exc}); {REMEDY}"
                ) from exc
            version += 1
            logger.info("migrated the prediction log %s to schema version %d", path, version)
