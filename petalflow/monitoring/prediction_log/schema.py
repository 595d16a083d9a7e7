"""The log's tables, their version (``PRAGMA user_version``) and the migrations to it.

Version 0 is a file of a petalflow that never set ``user_version`` (the same tables, plus
the old ``predictions_version`` index); version 1 dropped that index; version 2 adds
``predictions.conflicted``; version 3 (current) adds the ``shadow_predictions`` table (the
shadow model's answers, beside the primary's, by request id). A file of the
older per-row layout (no ``n_rows`` column) or of a newer version is refused.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from petalflow.core.errors import PredictionLogError
from petalflow.monitoring.prediction_log.database import transaction

logger = logging.getLogger(__name__)

USER_VERSION = 3
REMEDY = "move it away or point PREDICTION_LOG at a new file"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL,
    features TEXT NOT NULL,  -- JSON [[feature values of row 0], ...], one list per row
    labels TEXT NOT NULL,  -- JSON [predicted label, ...], one per row
    probabilities TEXT NOT NULL,  -- JSON [[p_class0, p_class1, ...], ...], one per row
    classes TEXT NOT NULL,  -- JSON [class0, class1, ...]
    conflicted INTEGER NOT NULL DEFAULT 0)  -- 1: the id was reused with other features""",
    """CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL, row_index INTEGER NOT NULL, true_label TEXT NOT NULL,
    predicted_label TEXT NOT NULL, model_version TEXT NOT NULL, labelled_at REAL NOT NULL,
    PRIMARY KEY (request_id, row_index))""",
    "CREATE INDEX IF NOT EXISTS feedback_version ON feedback (model_version, labelled_at)",
)
# The shadow model's answer to a request the primary answered (SHADOW_MODEL_URI); its
# rows are the request's, in the same order, so that feedback ids address them too.
_SHADOW_TABLE = """CREATE TABLE IF NOT EXISTS shadow_predictions (
    request_id TEXT NOT NULL PRIMARY KEY, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL,
    labels TEXT NOT NULL,  -- JSON [shadow's label, ...], one per row
    probabilities TEXT NOT NULL,  -- JSON [[p_class0, ...], ...] over the shadow's classes
    classes TEXT NOT NULL)  -- JSON: the shadow's classes"""


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the file's header (0 when never set)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def has_log(conn: sqlite3.Connection) -> bool:
    """Whether the file holds a predictions table (of any layout)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'predictions'"
    return conn.execute(sql).fetchone() is not None


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


# MIGRATIONS[v] upgrades a file of version v to v + 1, in the caller's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: migrate_0_to_1,
    1: migrate_1_to_2,
    2: migrate_2_to_3,
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
            MIGRATIONS[version](conn)
            version += 1
            logger.info("migrated the prediction log %s to schema version %d", path, version)
