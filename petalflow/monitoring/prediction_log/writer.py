"""The writer: the queue of recorded requests and the three things that drain it.

The event loop's task (``write_from_loop``), a helper thread and ``flush``; see the
package docstring for who writes when, and why.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
from collections import deque
from contextlib import closing
from pathlib import Path
from typing import Any

from petalflow.monitoring.prediction_log import retention
from petalflow.monitoring.prediction_log.database import connect, is_busy, transaction
from petalflow.monitoring.prediction_log.encoding import Encoder, QueuedRequest

logger = logging.getLogger(__name__)

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
_WIDTH = _ROW.count("?")  # parameters per request
# The event loop's share of a drain: ~10 ms of serializing and inserting at most.
_LOOP_ROWS = 10_000
# The thread checkpoints the WAL for the loop's connection every this many loop drains
# (10 s): the pages that every commit rewrites (the tables' and indexes' last leaves) are
# then copied into the database once per 10 s, not once per 4 MB of WAL as SQLite's
# automatic checkpoint would.
_CHECKPOINT_DRAINS = 40


class Writer:
    """The queue and its drains, for one PredictionLog; see the module docstring."""

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int,
        prune_every: int,
        batch_size: int,
        max_pending: int,
        busy_timeout: float,
        linger: float,
    ) -> None:
        self.path, self.linger, self.busy_timeout = path, linger, busy_timeout
        self.max_rows, self.prune_every, self.batch_size = max_rows, prune_every, batch_size
        self.max_pending, self.dropped, self.closed = max_pending, 0, False
        # A deque, not queue.Queue: append is one atomic C call on the request path.
        self.pending: deque[QueuedRequest] = deque()
        # One writer at a time in this process: the event loop, the thread or flush().
        self._lock = threading.Lock()
        self._since_prune = 0
        self._loop_writing = self._loop_behind = self._checkpoint_due = False
        self._wake = threading.Event()
        self._encoder = Encoder()
        self._thread: threading.Thread | None = None

    def enqueue(self, request: QueuedRequest) -> bool:
        """Queue ``request``: O(1); False (counted in ``dropped``) if closed or full."""
        if not self.closed and len(self.pending) < self.max_pending:
            self.pending.append(request)
            return True
        self.drop(request.n_rows, "prediction log closed or full")
        return False

    def drop(self, n: int, why: str) -> None:
        """Count ``n`` predicted rows as lost; logged the first time, then every ~1000."""
        before, self.dropped = self.dropped, self.dropped + n
        if before == 0 or before // 1000 != self.dropped // 1000:
            logger.warning("%s: %d predictions dropped so far", why, self.dropped)

    def _cannot_encode(self, item: QueuedRequest) -> None:
        # A logging failure must not fail a request: logged, counted, and the writer goes on.
        logger.exception("could not serialize request %r", item.request_id)
        self.drop(item.n_rows, "prediction log cannot serialize")

    def start(self) -> None:
        """Start the thread; the caller has checked the file."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None) -> None:
        """Stop the thread after its last drain; later records are dropped."""
        self.closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        elif self.pending:  # never started: nothing will write them
            self.drop(sum(r.n_rows for r in self.pending), "prediction log never started")
            self.pending.clear()

    async def write_from_loop(self) -> None:
        """Write the queue from the running event loop every ``linger`` s, until cancelled.

        Each drain is one transaction of at most ``batch_size`` requests and
        ``_LOOP_ROWS`` predicted rows, and never waits: when another writer holds the
        database it is skipped and the records stay queued for the next one or the thread.
        """
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        with closing(conn):
            self._loop_writing = True
            ready = False
            try:
                for drains in itertools.count(1):
                    await asyncio.sleep(self.linger)
                    ready = ready or self._prepare_loop_connection(conn)
                    drained = ready and self.drain(conn, lock_timeout=0, on_loop=True)
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

    def _take(self, on_loop: bool) -> list[QueuedRequest]:
        """The next transaction's requests: ``batch_size`` of them, or on the event loop
        up to ``_LOOP_ROWS`` predicted rows."""
        items: list[QueuedRequest] = []
        rows = 0
        while self.pending and len(items) < self.batch_size:
            if on_loop and rows >= _LOOP_ROWS:
                break
            items.append(self.pending.popleft())
            rows += items[-1].n_rows
        return items

    def drain(
        self, conn: sqlite3.Connection, lock_timeout: float = -1, on_loop: bool = False
    ) -> bool:
        """Write queued records; True if the queue is then empty.

        On the event loop: one transaction. Otherwise transactions until the queue is
        empty, and a prune when one is due. What a busy database (or another writer of
        this instance, for ``lock_timeout`` seconds; -1 waits) keeps from being written
        stays queued.
        """
        if not self._lock.acquire(timeout=lock_timeout):
            return False
        try:
            while self.pending:
                retry = self._insert(conn, self._take(on_loop))
                if retry:
                    self.pending.extendleft(reversed(retry))
                    return False
                if on_loop:
                    return not self.pending
                self._prune_if_due(conn)
            return True
        finally:
            self._lock.release()

    def _insert(self, conn: sqlite3.Connection, items: list[QueuedRequest]) -> list[Any]:
        """Write ``items`` in one transaction; the ones to queue again if the database
        stayed busy for the connection's timeout (nothing written), else []. Any other
        error drops them, logged and counted: the writer must go on."""
        values, n, kept = self._encoder.encode(items, self._cannot_encode)
        if not values:
            return []
        step = _WIDTH * _CHUNK
        try:
            with transaction(conn):
                for start in range(0, len(values), step):
                    chunk = values[start : start + step]
                    sql = _INSERT + ", ".join([_ROW] * (len(chunk) // _WIDTH))
                    conn.execute(sql, chunk)
        except Exception as exc:
            if is_busy(exc):
                logger.debug("%s is busy; %d requests stay queued", self.path, len(kept))
                return kept
            logger.exception("could not write %d requests to %s", len(kept), self.path)
            self.drop(n, "prediction log cannot write")
            return []
        self._since_prune += n
        return []

    def _prune_due(self) -> bool:
        return self._since_prune >= self.prune_every

    def _prune_if_due(self, conn: sqlite3.Connection) -> None:
        """Prune after every ``prune_every`` rows written; the caller holds ``_lock``."""
        if self._prune_due():
            self._since_prune = 0
            retention.prune(conn, self.max_rows, self.path)

    def _run(self) -> None:
        """The thread: writes when no event loop does (or it fell behind), prunes, and
        checkpoints the WAL for the loop's connection; the last drain on close.

        It polls every ``linger`` s, or, while the event loop writes, sleeps until woken.
        """
        with connect(self.path, self.busy_timeout) as conn:
            while not self.closed:
                self._wake.wait(None if self._loop_writing else self.linger)
                self._wake.clear()
                if not self._loop_writing or self._loop_behind:
                    self.drain(conn)
                elif self._prune_due():
                    with self._lock:
                        self._prune_if_due(conn)
                if self._checkpoint_due:
                    self._checkpoint_due = False
                    self._checkpoint(conn)
            if not self.drain(conn):  # the last records, on close
                logger.error(
                    "%s stayed busy: %d requests not written", self.path, len(self.pending)
                )

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            logger.exception("could not checkpoint %s", self.path)

    def prune(self) -> int:
        """Prune now, in the calling thread; the predicted rows deleted."""
        with connect(self.path, self.busy_timeout) as conn:
            return retention.prune(conn, self.max_rows, self.path)

    def flush(self, timeout: float | None) -> bool:
        """Write every queued record now, in the calling thread; False if the database or
        another writer stayed busy for ``timeout`` seconds (the records stay queued)."""
        try:
            with connect(self.path, self.busy_timeout if timeout is None else timeout) as conn:
                return self.drain(conn, lock_timeout=-1 if timeout is None else timeout)
        except sqlite3.Error:
            logger.exception("could not flush %s", self.path)
            return False
