"""Retention: keep the newest requests holding about ``max_rows`` rows, and feedback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import NamedTuple

from petalflow.monitoring.prediction_log.database import transaction

logger = logging.getLogger(__name__)

# A Counter counts the rows written since the last prune, and every this many prunes all
# of them again: a full count reads every row of a full log (100,000 rows: ~15 ms of CPU
# per 10,000 logged, as much as the delete's own work), and the periodic one corrects a
# count that rows deleted by hand have made too high.
RECOUNT_PRUNES = 10

# Given the excess rows (total - max_rows): the oldest request to keep and the rows older
# than it. It is among the oldest ``excess + 1`` requests that have rows: the window
# reads those, not the whole table.
_FIRST_KEPT = (
    "SELECT id, upto - n_rows FROM (SELECT id, n_rows, SUM(n_rows) OVER (ORDER BY id) AS upto "
    "FROM (SELECT id, n_rows FROM predictions WHERE n_rows > 0 ORDER BY id LIMIT :excess + 1)) "
    "WHERE upto > :excess ORDER BY id LIMIT 1"
)
# The same answer when the oldest ``excess`` requests with rows have one row each (a log
# of single rows): then the next request is the oldest kept, and the rows older than it
# sum to ``excess`` exactly (more: some had more rows, and the window must look). Six
# times faster than the window over 10,000 requests (~1 ms against ~6.5 ms).
_FIRST_KEPT_SINGLE = (
    "SELECT id, (SELECT COALESCE(SUM(n_rows), 0) FROM predictions WHERE id < kept.id) FROM "
    "(SELECT id FROM predictions WHERE n_rows > 0 ORDER BY id LIMIT 1 OFFSET :excess) AS kept"
)
_SURVEY = "SELECT COALESCE(SUM(n_rows), 0), MIN(id), MAX(id) FROM predictions"
# The rows (and the newest id) after a known id; one statement, so one snapshot with the
# oldest id it is checked against.
_ROWS_SINCE = (
    "SELECT COALESCE(SUM(n_rows), 0), MAX(id), (SELECT MIN(id) FROM predictions) "
    "FROM predictions WHERE id > ?"
)
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


class Pruned(NamedTuple):
    """A prune's outcome: the predicted rows it deleted, and the log as it left it (a
    ``Survey`` the next prune can start from; None when it could not tell)."""

    deleted: int
    after: Survey | None


def survey(conn: sqlite3.Connection, known: Survey | None = None) -> Survey | None:
    """The rows to prune from. Without ``known`` (or when the log's oldest request is no
    longer ``known.first``: another prune ran) one read of every row (~15-250 ms for
    100,000); with it, a read of the rows after ``known.last`` only. Either way no write
    lock is held, so the writers do not wait. None if it cannot be read (logged; the
    prune then counts under the lock)."""
    try:
        if known is not None and known.first is not None:
            since, last, first = conn.execute(_ROWS_SINCE, (known.last or 0,)).fetchone()
            if first == known.first:
                last = known.last if last is None else last
                return Survey(known.total + int(since), first, last)
        total, first, last = conn.execute(_SURVEY).fetchone()
    except sqlite3.Error as exc:
        logger.debug("could not survey %s: %s", conn, exc)
        return None
    return Survey(int(total), first, last)


def _first_kept(conn: sqlite3.Connection, excess: int) -> tuple[int, int] | None:
    """The oldest request to keep and the rows older than it; None: keep none."""
    found = conn.execute(_FIRST_KEPT_SINGLE, {"excess": excess}).fetchone()
    if found is None or found[1] != excess:
        found = conn.execute(_FIRST_KEPT, {"excess": excess}).fetchone()
    return None if found is None else (int(found[0]), int(found[1]))


def _delete_oldest(
    conn: sqlite3.Connection, total: int, max_rows: int, first: int
) -> tuple[int | None, int, int]:
    """Delete the requests with ``max_rows`` rows newer than them, ``total`` being the
    rows in the log (over ``max_rows``): the oldest id left (None: none), the rows deleted
    and the total. A total over every row there is (rows deleted by hand since it was
    counted: no request is then old enough to keep) is counted again first, rather than
    taken to mean that every request must go."""
    found = _first_kept(conn, total - max_rows)
    if found is None:
        total = int(conn.execute(_SURVEY).fetchone()[0])
        if total <= max_rows:
            return first, 0, total
        found = _first_kept(conn, total - max_rows)
    kept_from, deleted = found or (None, total)  # None: max_rows < 1, keep nothing
    conn.execute(
        "DELETE FROM predictions WHERE id < ?", (2**63 - 1 if kept_from is None else kept_from,)
    )
    return kept_from, deleted, total


def prune(conn: sqlite3.Connection, max_rows: int, path: Path, seen: Survey | None = None) -> int:
    """Delete the requests with ``max_rows`` rows newer than them (never the newest) and
    all but the newest ``max_rows`` feedback labels and shadow answers; the predicted rows
    deleted (``prune_counted``'s, with a survey taken now)."""
    return prune_counted(conn, max_rows, path, seen).deleted


def prune_counted(
    conn: sqlite3.Connection, max_rows: int, path: Path, seen: Survey | None = None
) -> Pruned:
    """``prune``, given ``seen``, a ``survey`` taken earlier (one is taken now without
    it), and returning the log's survey after it.

    Under the write lock the prune adds the rows written since ``seen``; when another
    prune (another worker) has deleted requests since, it leaves the predictions alone:
    its total is stale. A failure is logged and deletes nothing: retention must not stop
    the writer.
    """
    try:
        seen = seen or survey(conn)
        with transaction(conn):
            seen = seen or Survey(0, None, None)  # unreadable before: count every row now
            deleted, after = 0, None
            since, last, first = conn.execute(_ROWS_SINCE, (seen.last or 0,)).fetchone()
            if first == seen.first or seen.first is None:
                total = seen.total + int(since)
                if total > max_rows:
                    first, deleted, total = _delete_oldest(conn, total, max_rows, first)
                last = seen.last if last is None else last
                after = Survey(total - deleted, first, last) if first is not None else None
            conn.execute(_PRUNE_FEEDBACK, (max_rows,))
            conn.execute(_PRUNE_SHADOW, (max_rows,))
    except sqlite3.Error:
        logger.exception("could not prune %s", path)
        return Pruned(0, None)
    logger.debug("pruned %d predictions from %s", deleted, path)
    return Pruned(int(deleted), after)


class Counter:
    """The rows in the log across one writer's prunes: each prune counts only the rows
    written since the last one left the log (``survey``'s ``known``), except the first,
    every ``RECOUNT_PRUNES``-th after it, and the first in a replaced file (another
    ``generation``), which count every row. Rows deleted by hand (the oldest request kept)
    stay counted until then: each prune meanwhile keeps that many fewer rows."""

    def __init__(self) -> None:
        self._after: tuple[int, Survey | None] = (-1, None)  # the last prune's file, log
        self._prunes = 0

    def survey(self, conn: sqlite3.Connection, generation: int) -> Survey | None:
        """``survey``, from the last prune's count when it still holds."""
        counted_in, known = self._after
        return survey(conn, known if counted_in == generation else None)

    def prune(
        self,
        conn: sqlite3.Connection,
        max_rows: int,
        path: Path,
        generation: int,
        seen: Survey | None = None,
    ) -> int:
        """``prune`` (``seen``: a survey of this counter's, taken before the write lock);
        the caller holds the writer's lock."""
        pruned = prune_counted(conn, max_rows, path, seen or self.survey(conn, generation))
        self._prunes += 1
        recount = self._prunes % RECOUNT_PRUNES == 0
        self._after = (generation, None if recount else pruned.after)
        return pruned.deleted
