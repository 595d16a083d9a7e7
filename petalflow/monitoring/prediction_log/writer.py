"""The writer: the queue of recorded requests (and shadow answers) and what drains it.

In the server the event loop encodes the queue in small slices (``write_from_loop``,
paced by ``pacing``) and the thread inserts them once per period, in one transaction:
sqlite3 releases the GIL while SQLite works, so the inserts run beside the requests.
Without a loop (the CLI, tests) the thread does both; ``flush`` writes in its caller."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
import time
from collections import deque

from petalflow.monitoring.prediction_log import database, encoding, health, pacing, retention
from petalflow.monitoring.prediction_log.database import Handle, is_busy, transaction
from petalflow.monitoring.prediction_log.encoding import Encoded, Encoder, Item, QueuedRequest
from petalflow.monitoring.prediction_log.logfile import LogFile
from petalflow.monitoring.prediction_log.retention import Survey

logger = logging.getLogger(__name__)

# The event loop's slices: at most _LOOP_CHUNK rows encoded, spread over the period.
_LOOP_CHUNK = pacing.SLICE_ROWS
# Encoded slices not inserted yet, at most (about a period's): beyond it the loop stops
# encoding (the thread is behind: a locked file), and ``max_pending`` bounds what waits.
_ENCODED_SLICES = pacing.MAX_SLICES
# The thread checkpoints the WAL every this many periods (1 s): not once per 4 MB of WAL,
# and small (one every 20 s took ~0.9 s).
_CHECKPOINT_DRAINS = 4
# A database that stays locked while queued records wait this long makes the log degraded.
_BEHIND_SECONDS = 2.0


class Writer:
    """The queue and its drains, for one PredictionLog; see the module docstring."""

    def __init__(
        self,
        file: LogFile,
        state: health.Health,
        *,
        max_rows: int,
        prune_every: int,
        batch_size: int,
        max_pending: int,
        busy_timeout: float,
        linger: float,
    ) -> None:
        self.file, self.health, self.path = file, state, file.path
        self.linger, self.busy_timeout = linger, busy_timeout
        self.max_rows, self.prune_every, self.batch_size = max_rows, prune_every, batch_size
        self.max_pending, self.closed = max_pending, False
        # A deque (not queue.Queue): one atomic C call on the request path.
        self.pending: deque[Item] = deque()
        # One writer at a time in this process: the thread or flush().
        self._lock = threading.Lock()
        self._since_prune = 0
        self._counter = retention.Counter()
        self._loop_writing = self._loop_behind = self._checkpoint_due = False
        self._wake = threading.Event()
        self._encoder = Encoder()  # the thread's and flush's (under _lock)
        self._loop_encoder = Encoder()  # the event loop's
        # Slices the loop encoded, oldest first, for the thread to insert.
        self.encoded: deque[Encoded] = deque()
        self._thread: threading.Thread | None = None

    def enqueue(self, item: Item) -> bool:
        """Queue ``item``: O(1); False if closed or full (a request's loss counted by
        reason). A shadow answer may fill only half the queue, never crowding out requests;
        its loss is the shadow's to count (no prediction was lost)."""
        request = type(item) is QueuedRequest
        limit = self.max_pending if request else self.max_pending // 2
        if not self.closed and len(self.pending) < limit:
            self.pending.append(item)
            return True
        if request:
            reason = health.CLOSED if self.closed else (self.health.reason or health.QUEUE_FULL)
            if reason == health.QUEUE_FULL:
                self.health.fail(health.QUEUE_FULL, f"{self.max_pending} requests queued")
            self.health.drop((item.request_id,), item.n_rows, reason)
        return False

    def _cannot_encode(self, item: Item) -> None:  # logged, counted; the writer goes on
        logger.exception("could not serialize request %r", item.request_id)
        self.health.drop((item.request_id,), item.n_rows, health.UNSERIALIZABLE)

    def start(self) -> None:
        """Start the thread; the caller has checked the file."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None) -> int | None:
        """Stop the thread after its last drain; later records are dropped. None once it
        ended; if still stuck after ``timeout`` (a lock), the requests still queued."""
        self.closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return len(self.pending) + sum(len(e.kept) for e in list(self.encoded))
        elif self.pending:  # never started: nothing will write them (nor encoded them)
            lost = [r for r in self.pending if type(r) is QueuedRequest]  # not shadow answers
            rows = sum(r.n_rows for r in lost)
            self.health.drop([r.request_id for r in lost], rows, health.CLOSED)
            self.pending.clear()
        return None

    async def write_from_loop(self) -> None:
        """Encode the queue from the running event loop until cancelled: every ``linger``
        s what was queued then, in slices spread over the period (``pacing.spread``); the
        thread inserts them after each period."""
        self._loop_writing = True
        try:
            for drains in itertools.count(1):
                period_end = time.monotonic() + self.linger
                self._loop_behind = await pacing.spread(self, period_end)
                self._checkpoint_due |= drains % _CHECKPOINT_DRAINS == 0
                # Wake the thread only when it has work (a wake-up is a GIL hand-off).
                if self.encoded or self._loop_behind or self._checkpoint_due:
                    self._wake.set()
                await asyncio.sleep(max(0.0, period_end - time.monotonic()))
        finally:
            self._loop_writing = False
            self._wake.set()  # the thread polls again

    def follow_file(self) -> bool:
        """Whether the file at the path is still the one being written (one ``stat``);
        if not, the thread closes its connection and replaces it."""
        if self.file.follow(self.health):
            return True
        self._wake.set()
        return False

    def _connection(self, handle: Handle, timeout: float) -> sqlite3.Connection | None:
        """``handle``'s connection to the current file; None while it is being replaced."""
        if not self.follow_file():
            handle.close(checkpoint=True)
            return None
        if handle.conn is None or handle.generation != self.file.generation:
            handle.close()
            try:
                handle.conn = database.open_connection(self.path, timeout)
            except sqlite3.Error as exc:  # busy (WAL recovery elsewhere): next time
                if not is_busy(exc):
                    self.health.fail(health.reason_of(exc), exc)
                return None
            handle.generation = self.file.generation
        return handle.conn

    def _replace_file(self) -> None:
        """A new log at the path (the thread's connection to the old one is closed)."""
        with self._lock:
            self.file.replace(self.health)

    def _take(self, on_loop: bool = False) -> list[Item]:
        """The next transaction's requests, ``batch_size`` of them, or the event loop's
        next slice's, up to ``_LOOP_CHUNK`` predicted rows."""
        items: list[Item] = []
        rows = 0
        while self.pending and len(items) < self.batch_size:
            if on_loop and rows >= _LOOP_CHUNK:
                break
            items.append(self.pending.popleft())
            rows += items[-1].n_rows
        return items

    def encode_slice(self) -> int:
        """The event loop's slice: at most ``_LOOP_CHUNK`` rows (or one request) encoded
        for the thread to insert, never touching the file: the requests taken (encoded,
        or dropped and counted); -1 while ``_ENCODED_SLICES`` wait for the thread."""
        if len(self.encoded) >= _ENCODED_SLICES:
            return -1
        items = self._take(on_loop=True)
        encoded = self._loop_encoder.encode(items, self._cannot_encode)
        if encoded.kept:
            self.encoded.append(encoded)
        return len(items)

    def drain(self, conn: sqlite3.Connection, lock_timeout: float = -1) -> bool:
        """Write what the loop encoded, then the queue, until both are empty (pruning when
        due); True if they are. What a busy database (or another writer of this instance,
        for ``lock_timeout`` s; -1 waits) keeps from being written stays queued."""
        if not self._lock.acquire(timeout=lock_timeout):
            return False
        try:
            while self.encoded or self.pending:
                if not self._insert_encoded(conn):
                    return False
                if self.pending:
                    encoded = self._encoder.encode(self._take(), self._cannot_encode)
                    if not self._insert(conn, [encoded]):
                        self.pending.extendleft(reversed(encoded.kept))
                        return False
                self._prune_if_due(conn)
            return True
        finally:
            self._lock.release()

    def _insert_encoded(self, conn: sqlite3.Connection) -> bool:
        """Insert the loop's encoded slices, ``batch_size`` requests per transaction; the
        caller holds ``_lock``. False if the database stayed busy (they stay queued)."""
        while self.encoded:
            parts, taken = [self.encoded.popleft()], 0
            while self.encoded and (taken := taken + len(parts[-1].kept)) < self.batch_size:
                parts.append(self.encoded.popleft())
            if not self._insert(conn, parts):
                self.encoded.extendleft(reversed(parts))
                return False
        return True

    def _insert(self, conn: sqlite3.Connection, parts: list[Encoded]) -> bool:
        """Write ``parts`` in one transaction, merged (statements of up to 100 requests: a
        GIL hand-off each); False if the database stayed busy for the connection's timeout
        (nothing written: the caller queues them again); other errors drop them, counted."""
        if not any(part.kept for part in parts):
            return True
        try:
            with transaction(conn):
                encoding.insert(conn, encoding.merged(parts))
        except Exception as exc:
            kept, rows = [i for part in parts for i in part.kept], sum(p.n_rows for p in parts)
            if is_busy(exc):
                logger.debug("%s is busy; %d requests stay queued", self.path, len(kept))
                if time.time() - kept[0].created_at > _BEHIND_SECONDS:
                    self.health.fail(health.LOCKED, "another connection holds the write lock")
                return False
            logger.debug("could not write %d requests to %s", len(kept), self.path, exc_info=True)
            reason = health.reason_of(exc)
            self.health.fail(reason, exc)
            self.health.drop([item.request_id for item in kept], rows, reason)
            return True
        self._since_prune += sum(part.n_rows for part in parts)
        self.health.wrote()
        return True

    def _prune_due(self) -> bool:
        return self._since_prune >= self.prune_every

    def _prune_if_due(self, conn: sqlite3.Connection, seen: Survey | None = None) -> None:
        """Prune after every ``prune_every`` rows written; the caller holds ``_lock``
        (``seen``: the rows surveyed before taking it). A failed prune is logged and
        deletes nothing (retention's): the writes go on."""
        if self._prune_due():
            self._since_prune = 0
            self._counter.prune(conn, self.max_rows, self.path, self.file.generation, seen)

    def _run(self) -> None:
        """The thread: inserts what the loop encoded, writes all when no loop does (or it
        fell behind), prunes, checkpoints; polls every ``linger`` s, or sleeps until woken
        while the loop writes; the last drain on close."""
        handle = Handle()
        try:
            while not self.closed:
                self._wake.wait(None if self._loop_writing else self.linger)
                self._wake.clear()
                conn = self._connection(handle, self.busy_timeout)
                if conn is None:
                    self._replace_file()
                    continue
                if not self._loop_writing or self._loop_behind:
                    self.drain(conn)
                else:
                    with self._lock:
                        self._insert_encoded(conn)
                if self._loop_writing and self._prune_due():
                    seen = self._counter.survey(conn, self.file.generation)  # unlocked
                    with self._lock:
                        self._prune_if_due(conn, seen)
                if self._checkpoint_due:
                    self._checkpoint_due = False
                    self._checkpoint(conn)
            conn = self._connection(handle, self.busy_timeout)
            if conn is None or not self.drain(conn):  # the last records, on close
                left = len(self.pending) + sum(len(e.kept) for e in self.encoded)
                logger.error("%s: %d requests not written", self.path, left)
        finally:
            handle.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            self.health.fail(health.reason_of(exc), exc)

    def flush(self, timeout: float | None) -> bool:
        """Write every queued record now, in the calling thread; False if the database or
        another writer stayed busy for ``timeout`` seconds (the records stay queued)."""
        if not self.follow_file():
            return False
        try:
            wait = self.busy_timeout if timeout is None else timeout
            with database.connect(self.path, wait, create=False) as conn:
                return self.drain(conn, lock_timeout=-1 if timeout is None else timeout)
        except sqlite3.Error as exc:
            self.health.fail(health.reason_of(exc), exc)
            return False
