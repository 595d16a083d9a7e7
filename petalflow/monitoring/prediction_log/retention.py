"""Retention: keep the newest requests holding about ``max_rows`` rows, and feedback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

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
_TOTAL = "SELECT COALESCE(SUM(n_rows), 0) FROM predictions"
_PRUNE_FEEDBACK = (
    "DELETE FROM feedback WHERE rowid <= "
    "(SELECT rowid FROM feedback ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
)
# The newest ``max_rows`` shadow answers: at least one per request still kept.
_PRUNE_SHADOW = (
    "DELETE FROM shadow_predictions WHERE rowid <= "
    "(SELECT rowid FROM shadow_predictions ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
)


def prune(conn: sqlite3.Connection, max_rows: int, path: Path) -> int:
    """Delete the requests with ``max_rows`` rows newer than them (never the newest) and
    all but the newest ``max_rows`` feedback labels and shadow answers; the predicted rows
    deleted.

    A failure is logged and deletes nothing: retention must not stop the writer.
    """
    try:
        # The total reads every row (~100-250 ms for 100,000 on a busy machine): outside
        # the write lock, which the event loop's writes would otherwise wait for. Rows
        # written meanwhile are left for the next prune.
        total = int(conn.execute(_TOTAL).fetchone()[0])
        with transaction(conn):
            deleted = 0
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
