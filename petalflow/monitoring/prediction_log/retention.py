"""Retention: keep the newest requests holding about ``max_rows`` rows, and feedback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import NamedTuple

from petalflow.monitoring.prediction_log.database import transaction

logger = logging.getLogger(__name__)

# Given the excess rows (total - max_rows): the oldest request to keep and the rows older
# than it. It is among the oldest ``excess + 1`` requests that have rows: the window
# reads those, not the whole table.
_FIRST_KEPT = (
    "SELECT id, upto - n_rows FROM (SELECT id, n_rows, SUM(n_rows) OVER (ORDER BY id) AS upto "
    "FROM (SELECT id, n_rows FROM predictions WHERE n_rows > 0 ORDER BY id LIMIT :excess + 1)) "
    "WHERE upto > :excess ORDER BY id LIMIT 1"
)
_SURVEY = "SELECT COALESCE(SUM(n_rows), 0), MIN(id), MAX(id) FROM predictions"
_ROWS_SINCE = "SELECT COALESCE(SUM(n_rows), 0) FROM predictions WHERE id > ?"
_PRUNE_FEEDBACK = (
    "DELETE FROM feedback WHERE rowid <= "
    "(SELECT rowid FROM feedback ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
)
# The newest ``max_rows`` shadow answers: at least one per request still kept.
_PRUNE_SHADOW = (
    "DELETE FROM shadow_predictions WHERE rowid <= "
    "(SELECT rowid FROM shadow_predictions ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
)


class Survey(NamedTuple):
    """What a prune reads before it takes the write lock: the predicted rows in the log,
    and the oldest and newest request ids they were counted over."""

    total: int
    first: int | None
    last: int | None


def survey(conn: sqlite3.Connection) -> Survey | None:
    """The rows to prune from: one read of every row (~100-250 ms for 100,000 on a busy
    machine), so a prune does it without holding the write lock the writers wait for.
    None if it cannot be read (logged; the prune then tries under the lock)."""
    try:
        total, first, last = conn.execute(_SURVEY).fetchone()
    except sqlite3.Error as exc:
        logger.debug("could not survey %s: %s", conn, exc)
        return None
    return Survey(int(total), first, last)


def prune(conn: sqlite3.Connection, max_rows: int, path: Path, seen: Survey | None = None) -> int:
    """Delete the requests with ``max_rows`` rows newer than them (never the newest) and
    all but the newest ``max_rows`` feedback labels and shadow answers; the predicted rows
    deleted.

    ``seen`` is a ``survey`` taken earlier (one is taken now without it). Under the write
    lock the prune adds the rows written since; when another prune (another worker) has
    deleted requests since, it leaves the predictions alone: its total is stale.
    A failure is logged and deletes nothing: retention must not stop the writer.
    """
    try:
        seen = seen or survey(conn)
        with transaction(conn):
            seen = seen or Survey(0, None, None)  # unreadable before: count every row now
            deleted = 0
            first = conn.execute("SELECT MIN(id) FROM predictions").fetchone()[0]
            if first == seen.first or seen.first is None:
                since = (seen.last or 0,)
                total = seen.total + int(conn.execute(_ROWS_SINCE, since).fetchone()[0])
                if total > max_rows:
                    found = conn.execute(_FIRST_KEPT, {"excess": total - max_rows}).fetchone()
                    first_kept, deleted = found or (2**63 - 1, total)  # None: keep nothing
                    conn.execute("DELETE FROM predictions WHERE id < ?", (first_kept,))
            conn.execute(_PRUNE_FEEDBACK, (max_rows,))
            conn.execute(_PRUNE_SHADOW, (max_rows,))
    except sqlite3.Error:
        logger.exception("could not prune %s", path)
        return 0
    logger.debug("pruned %d predictions from %s", deleted, path)
    return int(deleted)
