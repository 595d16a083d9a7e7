"""The prediction log: an embedded SQLite database written off the request path.

One row per request, whatever its number of predicted rows. ``record*`` only append the
request to an in-memory queue (O(1), never blocks, nothing serialized). Who writes it:

- In the server, the event loop itself (``write_from_loop``, a task): every ``linger``
  seconds it serializes the queue and inserts it in one transaction, ~7-10 us per
  request (~5 % of the loop at 5,000 req/s) in one stretch, and never waits for a lock:
  when the database is busy it tries again next time. Why not a thread: on a busy server every
  stretch of Python a thread runs holds the GIL, and the event loop waits for the
  hand-offs several times as long as the work itself.
- A background thread writes what the loop leaves behind (over ``_LOOP_ROWS`` rows per
  drain, a busy database), everything when no loop writes (the CLI, tests), prunes, and
  checkpoints the WAL for the loop's connection. ``flush`` writes in the calling thread.

The price of polling: a SIGKILL or power loss loses what is queued, about ``linger``
seconds of predictions (more if the writer has fallen behind, at most ``max_pending``
requests); a normal shutdown writes everything. The file is in WAL mode and blocking
writers wait up to ``busy_timeout`` seconds for a lock, so several processes (uvicorn
workers, each with its own PredictionLog created after the fork) can share one file.
Retention keeps the newest requests holding about ``max_rows`` predicted rows (and the
newest ``max_rows`` feedback labels); it runs every ``prune_every`` rows written by this
instance. When ``max_pending`` requests are already queued, a record is dropped and its
rows counted in ``dropped``. A duplicate request id is ignored (the first kept).

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

import asyncio
import itertools
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

from petalflow.core.errors import AlreadyLabelledError, PredictionNotFoundError, UnknownLabelError
from petalflow.training.data import FEATURE_NAMES

logger = logging.getLogger(__name__)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    model_version TEXT NOT NULL, n_rows INTEGER NOT NULL,
    features TEXT NOT NULL,  -- JSON [[{", ".join(FEATURE_NAMES)}], ...]
    labels TEXT NOT NULL,  -- JSON [predicted label, ...], one per row
    probabilities TEXT NOT NULL,  -- JSON [[p_class0, p_class1, ...], ...], one per row
    classes TEXT NOT NULL);  -- JSON [class0, class1, ...]
DROP INDEX IF EXISTS predictions_version;
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
# than it. It is among the oldest ``excess + 1`` requests that have rows: the window
# reads those, not the whole table.
_FIRST_KEPT = (
    "SELECT id, upto - n_rows FROM (SELECT id, n_rows, SUM(n_rows) OVER (ORDER BY id) AS upto "
    "FROM (SELECT id, n_rows FROM predictions WHERE n_rows > 0 ORDER BY id LIMIT :excess + 1)) "
    "WHERE upto > :excess ORDER BY id LIMIT 1"
)
_PRUNE_FEEDBACK = (
    "DELETE FROM feedback WHERE rowid <= "
    "(SELECT rowid FROM feedback ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
)
# The event loop's share of a drain: ~10 ms of serializing and inserting at most.
_LOOP_ROWS = 10_000
# The thread checkpoints the WAL for the loop's connection every this many loop drains
# (10 s): the pages that every commit rewrites (the tables' and indexes' last leaves) are
# then copied into the database once per 10 s, not once per 4 MB of WAL as SQLite's
# automatic checkpoint would.
_CHECKPOINT_DRAINS = 40
Rows = Sequence[Sequence[float]] | np.ndarray


def _contiguous(rows: Rows) -> Rows:
    # orjson serializes only C-contiguous arrays; copying a strided one is rare and in C.
    if isinstance(rows, np.ndarray) and not rows.flags.c_contiguous:
        return np.ascontiguousarray(rows)
    return rows


class _Request(NamedTuple):
    """A request queued by ``record_batch``, in the order of the columns of ``_INSERT``:
    the caller's arrays, serialized by the writer. (``record_one`` queues a plain tuple.)
    """

    request_id: str
    created_at: float
    model_version: str
    n_rows: int
    features: Rows
    labels: Sequence[str]
    probabilities: Rows
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
        # A deque, not queue.Queue: append is one atomic C call on the request path.
        self._pending: deque[Any] = deque()
        self.max_pending = max_pending
        # One writer at a time in this process: the event loop, the thread or flush().
        self._lock = threading.Lock()
        self._since_prune = 0
        self._loop_writing = self._loop_behind = self._checkpoint_due = False
        self._wake = threading.Event()
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
    def _connection(self, timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        busy = self.busy_timeout if timeout is None else timeout
        conn = sqlite3.connect(self.path, timeout=busy, isolation_level=None)
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
        serializes them. False if dropped (queue full or log closed).
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

        Queues a plain tuple (no checks, no copies), which ``row`` and ``probabilities``
        must outlive unmodified; the writer serializes it with the others of its drain.
        """
        if self._closed or len(self._pending) >= self.max_pending:
            self._drop(1, "prediction log closed or full")
            return False
        self._pending.append(
            (request_id, time.time(), model_version, row, label, probabilities, classes)
        )
        return True

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

    def _values(self, items: list[Any]) -> tuple[list[Any], int, list[Any]]:
        """The flat parameters of ``_INSERT`` for queued items, their predicted rows and
        the items they came from.

        What cannot be serialized is dropped (logged, counted): a logging failure must
        not fail a request. Inlined for single rows (record_one's plain tuples, the bulk
        under load): a function call per item would cost as much as its three dumps.
        """
        dumps, numpy = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
        cached, classes_json = self._classes_json  # the model's list on every request
        values: list[Any] = []
        kept: list[Any] = []
        n = 0
        for item in items:
            single = type(item) is tuple
            try:
                if single:
                    request_id, when, version, row, label, proba, classes = item
                    head: tuple[Any, ...] = (request_id, when, version, 1)
                    features, labels, probabilities = (row,), (label,), (proba,)
                else:
                    head = item[:4]
                    features, labels, probabilities, classes = item[4:]
                if classes is not cached:
                    cached, classes_json = classes, dumps(classes, option=numpy).decode()
                values += (
                    *head,
                    dumps(features, option=numpy).decode(),
                    dumps(labels, option=numpy).decode(),
                    dumps(probabilities, option=numpy).decode(),
                    classes_json,
                )
                n += head[3]
                kept.append(item)
            except TypeError:  # orjson.JSONEncodeError
                logger.exception("could not serialize request %r", item[0])
                self._drop(1 if single else item.n_rows, "prediction log cannot serialize")
        self._classes_json = (cached, classes_json)
        return values, n, kept

    async def write_from_loop(self) -> None:
        """Write the queue from the running event loop every ``linger`` s, until cancelled.

        The server runs this as a task. Each drain is one transaction of at most
        ``batch_size`` requests and ``_LOOP_ROWS`` predicted rows, and never waits: when
        another writer holds the database (the thread's prune, another worker's drain,
        feedback) it is skipped and the records stay queued. What the loop leaves behind
        after a drain, the thread writes.
        """
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        with closing(conn):
            self._loop_writing = True
            ready = False
            try:
                for drains in itertools.count(1):
                    await asyncio.sleep(self.linger)
                    ready = ready or self._prepare_loop_connection(conn)
                    drained = ready and self._drain(conn, lock_timeout=0, on_loop=True)
                    self._loop_behind = not drained
                    if drains % _CHECKPOINT_DRAINS == 0:
                        self._checkpoint_due = True
                    # Wake the thread only when it has work: each wake-up costs the loop
                    # a GIL hand-off.
                    if self._loop_behind or self._checkpoint_due or self._prune_due():
                        self._wake.set()
            finally:
                self._loop_writing = False
                self._wake.set()  # the thread polls again

    def _prepare_loop_connection(self, conn: sqlite3.Connection) -> bool:
        """Set up the loop's connection; False (try again next time) if the file is busy,
        e.g. while another connection opens it (WAL recovery)."""
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the thread checkpoints, off the loop
        except sqlite3.Error as exc:
            logger.debug("the event loop cannot open %s yet: %s", self.path, exc)
            return False
        return True

    def _drain(
        self, conn: sqlite3.Connection, lock_timeout: float = -1, on_loop: bool = False
    ) -> bool:
        """Write queued records; True if the queue is then empty.

        On the event loop: one transaction of at most ``_LOOP_ROWS`` rows. Otherwise
        transactions of ``batch_size`` requests until the queue is empty, and a prune
        when one is due. What a busy database (or another writer of this instance, for
        ``lock_timeout`` seconds; -1 waits) keeps from being written stays queued.
        """
        if not self._lock.acquire(timeout=lock_timeout):
            return False
        try:
            while self._pending:
                items: list[Any] = []
                rows = 0
                while self._pending and len(items) < self.batch_size:
                    if on_loop and rows >= _LOOP_ROWS:
                        break
                    items.append(self._pending.popleft())
                    rows += 1 if type(items[-1]) is tuple else items[-1].n_rows
                retry = self._insert(conn, items)
                if retry:
                    self._pending.extendleft(reversed(retry))
                    return False
                if on_loop:
                    return not self._pending
                self._prune_if_due(conn)
            return True
        finally:
            self._lock.release()

    def _insert(self, conn: sqlite3.Connection, items: list[Any]) -> list[Any]:
        """Write ``items`` in one transaction; the ones to queue again if the database
        stayed busy for the connection's timeout (nothing written), else []. Any other
        error drops them, logged and counted: the writer must go on."""
        values, n, kept = self._values(items)
        if not values:
            return []
        width = len(_ROW.split(","))
        step = width * _CHUNK
        try:
            with _transaction(conn):
                for start in range(0, len(values), step):
                    chunk = values[start : start + step]
                    sql = _INSERT + ", ".join([_ROW] * (len(chunk) // width))
                    conn.execute(sql, chunk)
        except Exception as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
                logger.debug("%s is busy; %d requests stay queued", self.path, len(kept))
                return kept
            logger.exception("could not write %d requests to %s", len(kept), self.path)
            self._drop(n, "prediction log cannot write")
            return []
        self._since_prune += n
        return []

    def _prune_due(self) -> bool:
        return self._since_prune >= self.prune_every

    def _prune_if_due(self, conn: sqlite3.Connection) -> None:
        """Prune after every ``prune_every`` rows written; the caller holds ``_lock``."""
        if self._prune_due():
            self._since_prune = 0
            self._prune(conn)

    def _write_loop(self) -> None:
        """The thread: writes when no event loop does (or it fell behind), prunes, and
        checkpoints the WAL for the loop's connection; the last drain on close.

        It polls every ``linger`` s, or, while the event loop writes, sleeps until woken.
        """
        with self._connection() as conn:
            while not self._closed:
                self._wake.wait(None if self._loop_writing else self.linger)
                self._wake.clear()
                if not self._loop_writing or self._loop_behind:
                    self._drain(conn)
                elif self._prune_due():
                    with self._lock:
                        self._prune_if_due(conn)
                if self._checkpoint_due:
                    self._checkpoint_due = False
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error:
                        logger.exception("could not checkpoint %s", self.path)
            if not self._drain(conn):  # the last records, on close
                logger.error(
                    "%s stayed busy: %d requests not written", self.path, len(self._pending)
                )

    def _prune(self, conn: sqlite3.Connection) -> int:
        try:
            with _transaction(conn):
                sql = "SELECT COALESCE(SUM(n_rows), 0) FROM predictions"
                total = int(conn.execute(sql).fetchone()[0])
                deleted = 0
                if total > self.max_rows:
                    excess = {"excess": total - self.max_rows}
                    found = conn.execute(_FIRST_KEPT, excess).fetchone()
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
        """Write every queued record now, in the calling thread; False if the database or
        another writer stayed busy for ``timeout`` seconds (the records stay queued)."""
        try:
            with self._connection(timeout) as conn:
                return self._drain(conn, lock_timeout=-1 if timeout is None else timeout)
        except sqlite3.Error:
            logger.exception("could not flush %s", self.path)
            return False

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, then stop the writer; later records are dropped."""
        self._closed = True
        self._wake.set()
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
