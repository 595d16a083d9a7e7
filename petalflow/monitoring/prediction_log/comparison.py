"""Reads of the shadow model's answers beside the primary's (``shadow_predictions``).

A shadow answer shares its request id and row order with the primary's logged request,
so a row's feedback labels both. A file of schema version 2 or older read by the
read-only reader has no shadow table: it compares nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import NamedTuple

import orjson

from petalflow.monitoring.prediction_log.encoding import labels_of

logger = logging.getLogger(__name__)

_COMPARED = (
    "SELECT p.labels, p.classes, s.labels, s.classes FROM shadow_predictions AS s "
    "JOIN predictions AS p ON p.request_id = s.request_id "
    "WHERE p.model_version = ? AND s.model_version = ? AND p.conflicted = 0 "
    "AND p.n_rows = s.n_rows ORDER BY s.rowid DESC"
)
# A row's shadow label: the row_index-th of the shadow's labels.
_LABELLED = (
    "SELECT f.true_label, f.predicted_label, s.labels, s.classes, f.row_index "
    "FROM feedback AS f "
    "JOIN shadow_predictions AS s ON s.request_id = f.request_id "
    "WHERE f.model_version = ? AND s.model_version = ? AND f.row_index < s.n_rows "
    "ORDER BY f.labelled_at DESC, f.rowid DESC LIMIT ?"
)


class Labelled(NamedTuple):
    """One labelled row both models answered: the truth, the primary's, the shadow's."""

    true_label: str
    primary: str
    shadow: str


def has_shadow_table(conn: sqlite3.Connection) -> bool:
    """Whether the file has the shadow table (schema version 3 and later)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'shadow_predictions'"
    return conn.execute(sql).fetchone() is not None


def compared(
    conn: sqlite3.Connection, limit: int, primary_version: str, shadow_version: str
) -> tuple[list[str], list[str]]:
    """The primary's and the shadow's labels of the newest ``limit`` rows both answered
    (requests newest first, rows in request order)."""
    primary: list[str] = []
    shadow: list[str] = []
    if limit <= 0 or not has_shadow_table(conn):
        return primary, shadow
    found = conn.execute(_COMPARED, (primary_version, shadow_version))
    for ours, our_classes, theirs, their_classes in found:
        primary.extend(labels_of(ours, orjson.loads(our_classes)))
        shadow.extend(labels_of(theirs, orjson.loads(their_classes)))
        if len(primary) >= limit:  # the cursor is lazy: older requests are not read
            break
    return primary[:limit], shadow[:limit]


def labelled(
    conn: sqlite3.Connection, limit: int, primary_version: str, shadow_version: str
) -> list[Labelled]:
    """The newest ``limit`` labelled rows that both models answered, newest first."""
    if not has_shadow_table(conn):
        return []
    found = conn.execute(_LABELLED, (primary_version, shadow_version, limit))
    return [
        Labelled(str(t), str(p), labels_of(s, orjson.loads(classes))[i])
        for t, p, s, classes, i in found
    ]


def version_pairs(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(primary version, shadow version, requests compared) of every pair in the log,
    the most recently compared first: what a promotion can be told to look for."""
    if not has_shadow_table(conn):
        return []
    sql = (
        "SELECT p.model_version, s.model_version, COUNT(*), MAX(s.rowid) AS newest "
        "FROM shadow_predictions AS s JOIN predictions AS p ON p.request_id = s.request_id "
        "GROUP BY p.model_version, s.model_version ORDER BY newest DESC"
    )
    return [(str(p), str(s), int(n)) for p, s, n, _ in conn.execute(sql)]
