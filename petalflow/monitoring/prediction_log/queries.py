"""Reads of the log, on a connection the caller opens: the PredictionLog's or the reader's."""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import NamedTuple

import numpy as np
import orjson

from petalflow.core.errors import (
    AlreadyLabelledError,
    PredictionNotFoundError,
    RequestIdConflictError,
    UnknownLabelError,
)
from petalflow.monitoring.prediction_log import comparison
from petalflow.monitoring.prediction_log.encoding import QueuedRequest, float_rows, labels_of

logger = logging.getLogger(__name__)


class RecentPredictions(NamedTuple):
    """The newest logged predictions, oldest first: features (n x k) and labels."""

    features: np.ndarray
    labels: list[str]


class Target(NamedTuple):
    """The predicted row that a feedback id addresses."""

    request_id: str
    row_index: int
    predicted_label: str
    model_version: str
    classes: tuple[str, ...]  # of the model that predicted it: the labels feedback may give


def _version(model_version: str | None) -> tuple[str, tuple[str, ...]]:
    """An SQL condition on model_version (empty if None) and its parameters."""
    return ("", ()) if model_version is None else ("AND model_version = ?", (model_version,))


def count(conn: sqlite3.Connection, model_version: str | None = None) -> int:
    """Predicted rows written (of ``model_version`` if given)."""
    where, params = _version(model_version)
    sql = f"SELECT COALESCE(SUM(n_rows), 0) FROM predictions WHERE 1 {where}"
    return int(conn.execute(sql, params).fetchone()[0])


def recent(
    conn: sqlite3.Connection, limit: int, model_version: str | None = None
) -> RecentPredictions:
    """The newest ``limit`` predicted rows (of ``model_version`` if given), oldest first.

    Rows have the width of the newest row: the walk back in time stops at a request of
    another width (a model with other features), whose rows are not comparable. An
    empty answer has shape (0, 0).
    """
    where, params = _version(model_version)
    sql = (
        "SELECT n_rows, features, labels, classes FROM predictions "
        f"WHERE n_rows > 0 {where} ORDER BY id DESC"
    )
    requests: list[tuple[np.ndarray, list[str]]] = []
    total, width = 0, None
    for n, features, labels, classes in conn.execute(sql, params) if limit > 0 else []:
        rows = float_rows(features, n)
        if width is None:
            width = rows.shape[1]
        elif rows.shape[1] != width:
            break
        requests.append((rows, labels_of(labels, orjson.loads(classes))))
        total += n
        if total >= limit:  # the cursor is lazy: older requests are not read
            break
    skip = max(total - limit, 0)
    if total - skip <= 0:
        return RecentPredictions(np.empty((0, width or 0)), [])
    names: list[str] = []
    for _, labels in reversed(requests):
        names.extend(labels)
    all_rows = np.concatenate([rows for rows, _ in reversed(requests)])
    return RecentPredictions(all_rows[skip:], names[skip:])


def labelled(
    conn: sqlite3.Connection, limit: int, model_version: str | None = None
) -> list[tuple[str, str]]:
    """(true, predicted) label pairs of the most recent feedback, newest first."""
    where, params = _version(model_version)
    sql = (
        f"SELECT true_label, predicted_label FROM feedback WHERE 1 {where} "
        "ORDER BY labelled_at DESC, rowid DESC LIMIT ?"
    )
    return [(str(t), str(p)) for t, p in conn.execute(sql, (*params, limit))]


def labelled_rows(
    conn: sqlite3.Connection, limit: int, classes: list[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Encoded features and true labels of the newest ``limit`` labelled rows any model
    answered over ``classes`` (if given), of the newest one's width: to score another on."""
    sql = (
        "SELECT p.features, p.n_rows, f.row_index, f.true_label, p.classes FROM feedback AS f "
        "JOIN predictions AS p ON p.request_id = f.request_id "
        "ORDER BY f.labelled_at DESC, f.rowid DESC"
    )
    rows: list[np.ndarray] = []
    labels: list[str] = []
    for features, n, index, label, answered in conn.execute(sql):  # until ``limit`` kept
        row = float_rows(features, n)[index]
        other = classes is not None and [str(c) for c in orjson.loads(answered)] != classes
        if other or (rows and len(row) != len(rows[0])):
            continue
        rows.append(row)
        labels.append(str(label))
        if len(rows) == limit:
            break
    width = len(rows[0]) if rows else 0
    return np.array(rows, dtype=float).reshape(len(rows), width), labels


def latest_model_version(conn: sqlite3.Connection) -> str | None:
    """The model version of the newest logged request, None for an empty log."""
    found = conn.execute("SELECT model_version FROM predictions ORDER BY id DESC LIMIT 1")
    row = found.fetchone()
    return None if row is None else str(row[0])


def find(conn: sqlite3.Connection, feedback_id: str) -> Target | None:
    """The predicted row ``feedback_id`` addresses; None if it is not logged.

    An exact request id (a single-row request) first, then ``<request-id>:<index>``.
    PredictionNotFoundError for a bare batch id or an index out of range.
    """
    sql = (
        "SELECT n_rows, labels, model_version, conflicted, classes FROM predictions "
        "WHERE request_id = ?"
    )
    request_id, index = feedback_id, 0
    found = conn.execute(sql, (request_id,)).fetchone()
    if found is not None and found[0] != 1:
        raise PredictionNotFoundError(
            f"request {request_id!r} predicted {found[0]} rows; give feedback on one "
            f"row as '<request-id>:<index>', e.g. '{request_id}:0'"
        )
    if found is None:
        request_id, _, suffix = feedback_id.rpartition(":")
        canonical = suffix.isascii() and suffix.isdigit() and str(int(suffix)) == suffix
        if not (request_id and canonical):  # "b:01" is not row 1: one id per row
            return None
        index = int(suffix)
        found = conn.execute(sql, (request_id,)).fetchone()
        if found is None:
            return None
        if index >= found[0]:
            raise PredictionNotFoundError(
                f"no logged prediction has request id {feedback_id!r}: request "
                f"{request_id!r} predicted {found[0]} rows (index 0 to {found[0] - 1})"
            )
    if found[3]:
        raise RequestIdConflictError(
            f"request id {request_id!r} was sent by two requests with different features, "
            "so feedback cannot tell which prediction it labels; send a unique X-Request-ID "
            "with each prediction request"
        )
    classes = tuple(str(c) for c in orjson.loads(found[4]))
    label = labels_of(found[1], classes)[index]
    return Target(request_id, index, label, str(found[2]), classes)


def logged_request(conn: sqlite3.Connection, request_id: str) -> QueuedRequest | None:
    """The logged request ``request_id`` (features and probabilities as arrays), or None."""
    found = conn.execute(
        "SELECT request_id, created_at, model_version, n_rows, features, labels, "
        "probabilities, classes FROM predictions WHERE request_id = ?",
        (request_id,),
    ).fetchone()
    if found is None:
        return None
    request_id, created_at, model_version, n_rows = found[:4]
    features, labels, proba, classes = found[4:]
    classes = orjson.loads(classes)
    return QueuedRequest(
        request_id,
        created_at,
        model_version,
        n_rows,
        float_rows(features, n_rows),
        labels_of(labels, classes),
        float_rows(proba, n_rows),
        classes,
    )


def predicted_label(conn: sqlite3.Connection, feedback_id: str) -> str | None:
    """The label predicted for ``feedback_id`` (see ``find``), None if not logged."""
    try:
        target = find(conn, feedback_id)
    except PredictionNotFoundError:
        return None
    return None if target is None else target.predicted_label


def insert_feedback(
    conn: sqlite3.Connection, target: Target, true_label: str, feedback_id: str
) -> None:
    """Store ``true_label`` for ``target``; AlreadyLabelledError if it has one."""
    # The primary key: two processes labelling one row cannot both succeed.
    inserted = conn.execute(
        "INSERT OR IGNORE INTO feedback (request_id, row_index, true_label, "
        "predicted_label, model_version, labelled_at) VALUES (?, ?, ?, ?, ?, ?)",
        (*target[:2], true_label, target.predicted_label, target.model_version, time.time()),
    ).rowcount
    if inserted:
        return
    sql = "SELECT true_label FROM feedback WHERE request_id = ? AND row_index = ?"
    found = conn.execute(sql, target[:2]).fetchone()
    raise AlreadyLabelledError(
        f"prediction {feedback_id!r} is already labelled "
        f"{found[0] if found else true_label!r}; feedback is accepted once per prediction"
    )


class Reads:
    """The read methods shared by the log and its read-only reader; a subclass provides
    ``_connection()`` (read-write for the log, read-only for the reader)."""

    def _connection(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def count(self, model_version: str | None = None) -> int:
        """Predicted rows written (of ``model_version`` if given), not those still queued."""
        with self._connection() as conn:
            return count(conn, model_version)

    def recent(self, limit: int, model_version: str | None = None) -> RecentPredictions:
        """The newest ``limit`` predicted rows (of ``model_version`` if given), oldest first."""
        with self._connection() as conn:
            return recent(conn, limit, model_version)

    def labelled(self, limit: int, model_version: str | None = None) -> list[tuple[str, str]]:
        """(true, predicted) label pairs of the most recent feedback, newest first."""
        with self._connection() as conn:
            return labelled(conn, limit, model_version)

    def predicted_label(self, request_id: str) -> str | None:
        """The label predicted for a row id (``<request-id>[:<index>]``), None if not logged."""
        with self._connection() as conn:
            return predicted_label(conn, request_id)

    def labelled_rows(
        self, limit: int, classes: list[str] | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """Encoded features and true labels of the newest ``limit`` labelled rows (of
        predictions over ``classes``, if given)."""
        with self._connection() as conn:
            return labelled_rows(conn, limit, classes)

    def latest_model_version(self) -> str | None:
        """The model version of the newest written request, None for an empty log."""
        with self._connection() as conn:
            return latest_model_version(conn)

    def shadow_compared(
        self, limit: int, primary_version: str, shadow_version: str
    ) -> tuple[list[str], list[str]]:
        """The primary's and the shadow's labels of the newest ``limit`` rows both answered."""
        with self._connection() as conn:
            return comparison.compared(conn, limit, primary_version, shadow_version)

    def shadow_labelled(
        self, limit: int, primary_version: str, shadow_version: str
    ) -> list[comparison.Labelled]:
        """(true, primary, shadow) labels of the newest ``limit`` labelled rows both answered."""
        with self._connection() as conn:
            return comparison.labelled(conn, limit, primary_version, shadow_version)

    def shadow_version_pairs(self) -> list[tuple[str, str, int]]:
        """(primary version, shadow version, requests) pairs in the log, newest first."""
        with self._connection() as conn:
            return comparison.version_pairs(conn)


def check_label(true_label: str, target: Target) -> None:
    """UnknownLabelError (422, naming ``true_label``) unless it is one of the classes of
    the model that made the prediction."""
    if true_label not in target.classes:
        message = (
            f"true_label: unknown label {true_label!r}; the model that made prediction "
            f"{target.request_id!r} ({target.model_version}) knows {list(target.classes)}"
        )
        raise UnknownLabelError(
            message, [{"field": "true_label", "rule": "enum", "message": message}]
        )
