"""The prediction log: an embedded SQLite database written off the request path.

``PredictionLog.record`` only puts a row on an in-memory queue (O(1), never blocks);
one background thread writes the queue in batches, one transaction per batch. The file
is in WAL mode and every connection waits up to ``busy_timeout`` seconds for a lock, so
several processes (uvicorn workers, each with its own PredictionLog created after the
fork) can share one file. Retention keeps the newest ``max_rows`` rows; pruning runs
every ``prune_every`` rows written by this instance, not on every insert. When
``max_pending`` rows are already queued, a record is dropped and counted in ``dropped``.
A duplicate request id is ignored (the first prediction logged under it is kept).
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from petalflow.data import FEATURE_NAMES
from petalflow.errors import AlreadyLabelledError, PredictionNotFoundError, UnknownLabelError

logger = logging.getLogger(__name__)

_COLUMNS = ", ".join(FEATURE_NAMES)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, {", ".join(f"{name} REAL NOT NULL" for name in FEATURE_NAMES)},
    label TEXT NOT NULL, probabilities TEXT NOT NULL, true_label TEXT, labelled_at REAL);
CREATE INDEX IF NOT EXISTS predictions_version ON predictions (model_version, id);
CREATE INDEX IF NOT EXISTS predictions_labelled ON predictions (labelled_at)
    WHERE true_label IS NOT NULL;
"""
_INSERT = (
    f"INSERT OR IGNORE INTO predictions (request_id, created_at, model_version, {_COLUMNS}, "
    f"label, probabilities) VALUES ({', '.join('?' * (len(FEATURE_NAMES) + 5))})"
)
_PRUNE = (
    "DELETE FROM predictions WHERE id <= "
    "(SELECT id FROM predictions ORDER BY id DESC LIMIT 1 OFFSET ?)"
)
_STOP = object()


class RecentPredictions(NamedTuple):
    """The newest logged predictions, oldest first: features (n x 4) and labels."""

    features: np.ndarray
    labels: list[str]


class PredictionLog:
    """Append-only prediction log with feedback; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 100_000,
        prune_every: int = 1_000,
        batch_size: int = 500,
        max_pending: int = 100_000,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self.max_rows, self.prune_every, self.batch_size = max_rows, prune_every, batch_size
        self.busy_timeout = busy_timeout
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._closed = False
        with self._connection() as conn:  # now, so that a bad path fails at startup
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        self._writer = threading.Thread(target=self._write_loop, name="prediction-log", daemon=True)
        self._writer.start()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        with closing(conn):
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn

    def record(
        self,
        request_id: str,
        model_version: str,
        features: Sequence[float],
        label: str,
        probabilities: Mapping[str, float],
        created_at: float | None = None,
    ) -> bool:
        """Queue one prediction for writing; False if dropped (queue full or log closed)."""
        if len(features) != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} feature values, got {len(features)}")
        when = time.time() if created_at is None else created_at
        row = (request_id, when, model_version, *map(float, features), label)
        if not self._closed:
            try:
                self._queue.put_nowait((*row, json.dumps(dict(probabilities))))
                return True
            except queue.Full:
                pass
        self.dropped += 1
        if self.dropped % 1000 == 1:  # the first drop, then every 1000th: no log flood
            logger.warning("prediction log closed or full: %d predictions dropped", self.dropped)
        return False

    def _write_loop(self) -> None:
        since_prune = 0
        with self._connection() as conn:
            while True:
                items = [self._queue.get()]
                while len(items) < self.batch_size and not self._queue.empty():
                    items.append(self._queue.get_nowait())
                rows = [item for item in items if isinstance(item, tuple)]
                if rows:
                    since_prune += self._insert(conn, rows)
                if since_prune >= self.prune_every:
                    since_prune = 0
                    self._prune(conn)
                for item in items:
                    if isinstance(item, threading.Event):
                        item.set()
                if _STOP in items:
                    return

    def _insert(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
            return len(rows)
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.dropped += len(rows)
            logger.exception("could not write %d predictions to %s", len(rows), self.path)
            return 0

    def _prune(self, conn: sqlite3.Connection) -> int:
        try:
            deleted = int(conn.execute(_PRUNE, (self.max_rows,)).rowcount)
        except sqlite3.Error:
            logger.exception("could not prune %s", self.path)
            return 0
        logger.debug("pruned %d predictions from %s", deleted, self.path)
        return deleted

    def prune(self) -> int:
        """Delete all but the newest ``max_rows`` rows now; returns how many were deleted."""
        with self._connection() as conn:
            return self._prune(conn)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record queued before this call is written; False on timeout."""
        if self._closed:
            return not self._writer.is_alive()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, then stop the writer; later records are dropped."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._writer.join(timeout)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, model_version: str | None, *params: Any) -> list[Any]:
        """Run ``sql`` with ``{version}`` replaced by an optional model_version condition."""
        version = "" if model_version is None else "AND model_version = ?"
        head = () if model_version is None else (model_version,)
        with self._connection() as conn:
            return conn.execute(sql.format(version=version), (*head, *params)).fetchall()

    def count(self, model_version: str | None = None) -> int:
        """Rows written (of ``model_version`` if given); rows still queued are not counted."""
        return int(
            self._query("SELECT COUNT(*) FROM predictions WHERE 1 {version}", model_version)[0][0]
        )

    def recent(self, limit: int, model_version: str | None = None) -> RecentPredictions:
        """The newest ``limit`` predictions (of ``model_version`` if given), oldest first."""
        sql = f"SELECT {_COLUMNS}, label FROM predictions WHERE 1 {{version}} "
        sql += "ORDER BY id DESC LIMIT ?"
        rows = self._query(sql, model_version, limit)[::-1]
        features = np.array([row[:-1] for row in rows], dtype=float)
        return RecentPredictions(features.reshape(-1, len(FEATURE_NAMES)), [r[-1] for r in rows])

    def labelled(self, limit: int, model_version: str | None = None) -> list[tuple[str, str]]:
        """(true, predicted) label pairs of the most recently labelled predictions."""
        sql = (
            "SELECT true_label, label FROM predictions WHERE true_label IS NOT NULL {version} "
            "ORDER BY labelled_at DESC, id DESC LIMIT ?"
        )
        return [(str(t), str(p)) for t, p in self._query(sql, model_version, limit)]

    def add_feedback(
        self,
        request_id: str,
        true_label: str,
        allowed_labels: Collection[str] | None = None,
        wait: float = 0.5,
    ) -> None:
        """Join ``true_label`` to the prediction logged under ``request_id``.

        A prediction still queued in this instance is flushed first; one still queued in
        another process is waited for up to ``wait`` seconds. Raises UnknownLabelError
        (not in ``allowed_labels``), PredictionNotFoundError or AlreadyLabelledError.
        """
        if allowed_labels is not None and true_label not in allowed_labels:
            raise UnknownLabelError(
                f"unknown label {true_label!r}; use one of {sorted(allowed_labels)}"
            )
        deadline, attempt = time.monotonic() + wait, 0
        while True:
            with self._connection() as conn:
                # One statement: two processes labelling the same id cannot both succeed.
                if conn.execute(
                    "UPDATE predictions SET true_label = ?, labelled_at = ? "
                    "WHERE request_id = ? AND true_label IS NULL",
                    (true_label, time.time(), request_id),
                ).rowcount:
                    return
                found = conn.execute(
                    "SELECT true_label FROM predictions WHERE request_id = ?", (request_id,)
                ).fetchone()
            if found is not None:
                raise AlreadyLabelledError(
                    f"prediction {request_id!r} is already labelled {found[0]!r}; "
                    "feedback is accepted once per prediction"
                )
            if attempt == 0:
                self.flush()
            elif time.monotonic() < deadline:
                time.sleep(0.02)
            else:
                break
            attempt += 1
        raise PredictionNotFoundError(
            f"no logged prediction has request id {request_id!r}; use the request id "
            "returned by /predict ('<request-id>:<index>' for a batch row)"
        )

    def predicted_label(self, request_id: str) -> str | None:
        """The label predicted for ``request_id``, or None if it is not logged."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT label FROM predictions WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else str(row[0])
