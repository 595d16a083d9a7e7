"""The prediction log: an embedded SQLite database written off the request path.

One row per request, whatever its number of predicted rows. ``record*`` only put the
request on an in-memory queue (never blocks); one background thread writes the queue, one
transaction per drain. Why it is built this way: on a busy server every stretch of Python
the writer runs holds the GIL and stalls the event loop for longer than the work itself
(the thread competes with the load for the CPU), so the writer does as little Python as
possible. It polls the queue every ``linger`` seconds, so drains are few and large
(transactions of up to ``batch_size`` requests). The price: a SIGKILL or power loss loses
what is queued, about ``linger`` seconds of predictions (more if the writer has fallen
behind, at most ``max_pending`` requests); a normal shutdown flushes everything.
``record_one`` (single rows, the hot path) serializes its row to JSON at once, three
small orjson calls; ``record_batch`` is O(1) for any number of rows and leaves one orjson
call per column to the writer. The file is in WAL mode and every connection waits up to
``busy_timeout`` seconds for a lock, so several processes (uvicorn workers, each with its
own PredictionLog created after the fork) can share one file. Retention keeps the newest
requests holding about ``max_rows`` predicted rows (and the newest ``max_rows`` feedback
labels); it runs every ``prune_every`` rows written by this instance. When
``max_pending`` requests are already queued, a record is dropped and its rows counted in
``dropped``. A duplicate request id is ignored (the first kept).

Feedback is stored per predicted row in the ``feedback`` table; a row is addressed by its
request id (single-row requests) or ``<request-id>:<index>`` (a row of a batch).
SQLite's json functions read the JSON columns, e.g. one line per predicted row::

    SELECT p.request_id, r.key AS row_index, r.value AS label,
           json_extract(p.features, '$[' || r.key || ']') AS features,
           json_extract(p.probabilities, '$[' || r.key || ']') AS probabilities
    FROM predictions AS p, json_each(p.labels) AS r
    WHERE p.request_id = 'abc123' ORDER BY r.key;
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson

from petalflow.data import FEATURE_NAMES
from petalflow.errors import AlreadyLabelledError, PredictionNotFoundError, UnknownLabelError

logger = logging.getLogger(__name__)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL,
    features TEXT NOT NULL,  -- JSON [[{", ".join(FEATURE_NAMES)}], ...]
    labels TEXT NOT NULL,  -- JSON [predicted label, ...], one per row
    probabilities TEXT NOT NULL,  -- JSON [[p_class0, p_class1, ...], ...], one per row
    classes TEXT NOT NULL);  -- JSON [class0, class1, ...]
CREATE INDEX IF NOT EXISTS predictions_version ON predictions (model_version, id, n_rows);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL, row_index INTEGER NOT NULL, true_label TEXT NOT NULL,
    predicted_label TEXT NOT NULL, model_version TEXT NOT NULL, labelled_at REAL NOT NULL,
    PRIMARY KEY (request_id, row_index));
CREATE INDEX IF NOT EXISTS feedback_version ON feedback (model_version, labelled_at);
"""
# Up to _CHUNK requests per statement (multi-row VALUES): sqlite3 releases and retakes
# the GIL once per statement, where executemany does it once per row, and under load
# each of those hand-offs stalls the event loop's thread. 8 x 100 parameters stay under
# every SQLite build's variable limit (999 before 3.32).
_CHUNK = 100
_INSERT = (
    "INSERT OR IGNORE INTO predictions (request_id, created_at, model_version, n_rows, "
    "features, labels, probabilities, classes) VALUES "
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
# Given the excess rows (total - max_rows): the oldest request to keep and the rows older
# than it. The window runs from the oldest request and stops there (LIMIT 1), so a prune
# reads the requests it deletes, not the whole table.
_FIRST_KEPT = (
    "SELECT id, upto - n_rows FROM (SELECT id, n_rows, SUM(n_rows) OVER (ORDER BY id) AS upto "
    "FROM predictions) WHERE upto > ? LIMIT 1"
)
_PRUNE_FEEDBACK = (
    "DELETE FROM feedback WHERE rowid <= "
    "(SELECT rowid FROM feedback ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
)
_STOP = object()
Rows = Sequence[Sequence[float]] | np.ndarray


def _json(value: Any) -> str:
    """One C call for a whole list or (C-contiguous) numpy array."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _contiguous(rows: Rows) -> Rows:
    # orjson serializes only C-contiguous arrays; copying a strided one is rare and in C.
    if isinstance(rows, np.ndarray) and not rows.flags.c_contiguous:
        return np.ascontiguousarray(rows)
    return rows


class _Request(NamedTuple):
    """A queued request, in the order of the columns of ``_INSERT``.

    ``record_batch`` queues the caller's arrays (the writer serializes them);
    ``record_one`` queues the four JSON columns already serialized (``str``).
    """

    request_id: str
    created_at: float
    model_version: str
    n_rows: int
    features: Rows | str
    labels: Sequence[str]
    probabilities: Rows | str
    classes: Sequence[str]


class RecentPredictions(NamedTuple):
    """The newest logged predictions, oldest first: features (n x 4) and labels."""

    features: np.ndarray
    labels: list[str]


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class PredictionLog:
    """Append-only prediction log with feedback; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 100_000,
        prune_every: int = 10_000,
        batch_size: int = 2_000,
        max_pending: int = 100_000,
        busy_timeout: float = 10.0,
        linger: float = 0.25,
    ) -> None:
        self.path = Path(path)
        self.linger = linger
        self.max_rows, self.prune_every, self.batch_size = max_rows, prune_every, batch_size
        self.busy_timeout = busy_timeout
        self.dropped = 0
        # A deque, not queue.Queue: append is one atomic C call on the request path; the
        # writer polls it every ``linger`` seconds (flush and close wake it at once).
        self._pending: deque[Any] = deque()
        self.max_pending = max_pending
        self._wakeup = threading.Event()
        self._closed = False
        self._classes_json: tuple[Sequence[str] | None, str] = (None, "")
        with self._connection() as conn:  # now, so that a bad path fails at startup
            conn.execute("PRAGMA journal_mode=WAL")
            columns = {row[1] for row in conn.execute("PRAGMA table_info(predictions)")}
            if columns and "n_rows" not in columns:
                raise RuntimeError(
                    f"{self.path} holds a prediction log of an older petalflow (one row per "
                    "prediction); move it away or point PREDICTION_LOG at a new file"
                )
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
        proba, classes = [list(probabilities.values())], list(probabilities)
        return self.record_batch(
            request_id, model_version, [features], [label], classes, proba, created_at
        )

    def record_batch(
        self,
        request_id: str,
        model_version: str,
        features: Rows,
        labels: Sequence[str],
        classes: Sequence[str],
        probabilities: Rows,
        created_at: float | None = None,
    ) -> bool:
        """Queue the predictions of one request as one item: O(1) work, whatever its rows.

        ``features`` is (n, 4), ``labels`` n long, ``probabilities`` (n, len(classes)),
        as lists or numpy arrays, which must not be modified afterwards: the writer
        thread serializes them. False if dropped (queue full or log closed).
        """
        n = len(labels)
        if not len(features) == len(probabilities) == n:
            raise ValueError(f"{len(features)} rows, {n} labels, {len(probabilities)} probas")
        if n and len(features[0]) != len(FEATURE_NAMES):
            raise ValueError(
                f"expected {len(FEATURE_NAMES)} feature values, got {len(features[0])}"
            )
        when = time.time() if created_at is None else created_at
        features, probabilities = _contiguous(features), _contiguous(probabilities)
        return self._enqueue(
            _Request(request_id, when, model_version, n, features, labels, probabilities, classes)
        )

    def record_one(
        self,
        request_id: str,
        model_version: str,
        row: Sequence[float],
        label: str,
        probabilities: Sequence[float],
        classes: Sequence[str],
    ) -> bool:
        """``record_batch`` of one row that the caller has validated (the /predict hot path).

        Serialized here, not by the writer: three small orjson calls cost the caller about
        a microsecond, while the same work in the writer thread holds the GIL in long
        stretches that stall the event loop for several times as long.
        """
        request = _Request(
            request_id, time.time(), model_version, 1, (row,), (label,), (probabilities,), classes
        )
        serialized = self._serialized(request)
        return serialized is not None and self._enqueue(serialized)

    def _serialized(self, request: _Request) -> _Request | None:
        """The request with its four JSON columns as text; None (dropped) if it cannot be.

        The class list is the model's, the same object on every request: its JSON is cached.
        """
        try:
            cached, classes_json = self._classes_json
            if request.classes is not cached:
                classes_json = _json(request.classes)
                self._classes_json = (request.classes, classes_json)  # one tuple: thread-safe
            return _Request(
                *request[:4],
                _json(request.features),
                _json(request.labels),
                _json(request.probabilities),
                classes_json,
            )
        except TypeError:  # orjson.JSONEncodeError: a logging failure must not fail a request
            logger.exception("could not serialize request %r", request.request_id)
            self._drop(request.n_rows, "prediction log cannot serialize")
            return None

    def _enqueue(self, request: _Request) -> bool:
        if not self._closed and len(self._pending) < self.max_pending:
            self._pending.append(request)
            return True
        self._drop(request.n_rows, "prediction log closed or full")
        return False

    def _drop(self, n: int, why: str) -> None:
        before, self.dropped = self.dropped, self.dropped + n
        if before == 0 or before // 1000 != self.dropped // 1000:  # first, then every ~1000
            logger.warning("%s: %d predictions dropped so far", why, self.dropped)

    def _write_loop(self) -> None:
        since_prune = 0
        with self._connection() as conn:
            while True:
                # Gather for up to ``linger``: fewer, larger transactions.
                self._wakeup.wait(self.linger)
                self._wakeup.clear()
                while self._pending:
                    items: list[Any] = []
                    while self._pending and len(items) < self.batch_size:
                        items.append(self._pending.popleft())
                    requests = [i for i in items if isinstance(i, _Request)]
                    since_prune += self._insert(conn, requests)
                    if since_prune >= self.prune_every:
                        since_prune = 0
                        self._prune(conn)
                    for item in items:
                        if isinstance(item, threading.Event):
                            item.set()
                    if any(item is _STOP for item in items):
                        return

    def _insert(self, conn: sqlite3.Connection, requests: list[_Request]) -> int:
        """Write ``requests`` in one transaction; returns the number of predicted rows."""
        values: list[Any] = []
        n = 0
        for request in requests:
            serialized = request if type(request.features) is str else self._serialized(request)
            if serialized is not None:
                values += serialized
                n += serialized.n_rows
        if not values:
            return 0
        width = len(_ROW.split(","))
        step = width * _CHUNK
        try:
            with _transaction(conn):
                for start in range(0, len(values), step):
                    chunk = values[start : start + step]
                    sql = _INSERT + ", ".join([_ROW] * (len(chunk) // width))
                    conn.execute(sql, chunk)
            return n
        except sqlite3.Error:
            logger.exception("could not write %d requests to %s", len(requests), self.path)
            self._drop(n, "prediction log cannot write")
            return 0

    def _prune(self, conn: sqlite3.Connection) -> int:
        try:
            with _transaction(conn):
                sql = "SELECT COALESCE(SUM(n_rows), 0) FROM predictions"
                total = int(conn.execute(sql).fetchone()[0])
                deleted = 0
                if total > self.max_rows:
                    found = conn.execute(_FIRST_KEPT, (total - self.max_rows,)).fetchone()
                    first_kept, deleted = found or (2**63 - 1, total)  # None: keep nothing
                    conn.execute("DELETE FROM predictions WHERE id < ?", (first_kept,))
                conn.execute(_PRUNE_FEEDBACK, (self.max_rows,))
        except sqlite3.Error:
            logger.exception("could not prune %s", self.path)
            return 0
        logger.debug("pruned %d predictions from %s", deleted, self.path)
        return deleted

    def prune(self) -> int:
        """Delete the requests with ``max_rows`` rows newer than them; returns rows deleted."""
        with self._connection() as conn:
            return self._prune(conn)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record queued before this call is written; False on timeout."""
        if self._closed:
            return not self._writer.is_alive()
        done = threading.Event()
        self._pending.append(done)
        self._wakeup.set()
        return done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, then stop the writer; later records are dropped."""
        if not self._closed:
            self._closed = True
            self._pending.append(_STOP)
            self._wakeup.set()
        self._writer.join(timeout)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _version(model_version: str | None) -> tuple[str, tuple[str, ...]]:
        """An SQL condition on model_version (empty if None) and its parameters."""
        return ("", ()) if model_version is None else ("AND model_version = ?", (model_version,))

    def count(self, model_version: str | None = None) -> int:
        """Predicted rows written (of ``model_version`` if given), not those still queued."""
        where, params = self._version(model_version)
        sql = f"SELECT COALESCE(SUM(n_rows), 0) FROM predictions WHERE 1 {where}"
        with self._connection() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def recent(self, limit: int, model_version: str | None = None) -> RecentPredictions:
        """The newest ``limit`` predicted rows (of ``model_version`` if given), oldest first."""
        where, params = self._version(model_version)
        sql = f"SELECT n_rows, features, labels FROM predictions WHERE 1 {where} ORDER BY id DESC"
        requests, total, rows, names = [], 0, [], []
        with self._connection() as conn:
            for n, features, labels in conn.execute(sql, params) if limit > 0 else []:
                requests.append((features, labels))
                total += n
                if total >= limit:  # the cursor is lazy: older requests are not read
                    break
        for features, labels in reversed(requests):
            rows.extend(orjson.loads(features))
            names.extend(orjson.loads(labels))
        skip = max(total - limit, 0)
        array = np.array(rows[skip:], dtype=float).reshape(-1, len(FEATURE_NAMES))
        return RecentPredictions(array, names[skip:])

    def labelled(self, limit: int, model_version: str | None = None) -> list[tuple[str, str]]:
        """(true, predicted) label pairs of the most recent feedback."""
        where, params = self._version(model_version)
        sql = (
            f"SELECT true_label, predicted_label FROM feedback WHERE 1 {where} "
            "ORDER BY labelled_at DESC, rowid DESC LIMIT ?"
        )
        with self._connection() as conn:
            return [(str(t), str(p)) for t, p in conn.execute(sql, (*params, limit))]

    @staticmethod
    def _find(conn: sqlite3.Connection, feedback_id: str) -> tuple[str, int, str, str] | None:
        """(request id, row index, predicted label, model version) of ``feedback_id``.

        An exact request id (a single-row request) first, then ``<request-id>:<index>``;
        None if neither is logged. PredictionNotFoundError for a bare batch id or an index
        out of range.
        """
        sql = "SELECT n_rows, labels, model_version FROM predictions WHERE request_id = ?"
        request_id, index = feedback_id, 0
        found = conn.execute(sql, (request_id,)).fetchone()
        if found is not None and found[0] != 1:
            raise PredictionNotFoundError(
                f"request {request_id!r} predicted {found[0]} rows; give feedback on one "
                f"row as '<request-id>:<index>', e.g. '{request_id}:0'"
            )
        if found is None:
            request_id, _, suffix = feedback_id.rpartition(":")
            if not (request_id and suffix.isascii() and suffix.isdigit()):
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
        return request_id, index, str(orjson.loads(found[1])[index]), str(found[2])

    def add_feedback(
        self,
        request_id: str,
        true_label: str,
        allowed_labels: Collection[str] | None = None,
        wait: float = 0.5,
    ) -> str:
        """Store ``true_label`` for the predicted row ``request_id``; returns its predicted label.

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
                target = self._find(conn, request_id)
                if target is not None:
                    key, (predicted, version) = target[:2], target[2:]
                    # The primary key: two processes labelling one row cannot both succeed.
                    if conn.execute(
                        "INSERT OR IGNORE INTO feedback (request_id, row_index, true_label, "
                        "predicted_label, model_version, labelled_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (*key, true_label, predicted, version, time.time()),
                    ).rowcount:
                        return str(predicted)
                    sql = "SELECT true_label FROM feedback WHERE request_id = ? AND row_index = ?"
                    found = conn.execute(sql, key).fetchone()
                    raise AlreadyLabelledError(
                        f"prediction {request_id!r} is already labelled "
                        f"{found[0] if found else true_label!r}; feedback is accepted once "
                        "per prediction"
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
        """The label predicted for ``request_id`` (see ``_find``), or None if not logged."""
        with self._connection() as conn:
            try:
                target = self._find(conn, request_id)
            except PredictionNotFoundError:
                return None
        return None if target is None else target[2]
