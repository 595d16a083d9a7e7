"""The log's health: what was dropped and why, and since when writing has been failing.

A monitoring product must never lose predictions silently. Every dropped prediction is
counted by reason, the request ids of recent drops are kept (so that feedback on one
can say why it cannot be joined), and a failing log logs one warning when it starts
failing and one line when it recovers: not a traceback per drain.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Why predictions are dropped (the ``reason`` label of the dropped counter).
DISK_FULL = "disk_full"  # SQLITE_FULL: the disk (or the file's page limit) is full
LOCKED = "locked"  # another process held the database until the queue overflowed
DAMAGED = "damaged"  # SQLITE_CORRUPT / SQLITE_NOTADB
MOVED = "moved"  # the file was moved or deleted; it is being recreated
UNWRITABLE = "unwritable"  # any other SQLite or OS error (read-only, I/O error)
QUEUE_FULL = "queue_full"  # more requests than the writer keeps up with
CLOSED = "closed"  # recorded after shutdown began
UNSERIALIZABLE = "unserializable"  # values JSON cannot hold (a bug, not a fault)
REASONS = (DISK_FULL, LOCKED, DAMAGED, MOVED, UNWRITABLE, QUEUE_FULL, CLOSED, UNSERIALIZABLE)

_BY_CODE = {
    sqlite3.SQLITE_FULL: DISK_FULL,
    sqlite3.SQLITE_BUSY: LOCKED,
    sqlite3.SQLITE_LOCKED: LOCKED,
    sqlite3.SQLITE_CORRUPT: DAMAGED,
    sqlite3.SQLITE_NOTADB: DAMAGED,
}
# Ids of dropped requests kept for /feedback's answer: ~100 bytes each.
_REMEMBERED_DROPS = 100_000


def reason_of(exc: BaseException) -> str:
    """The drop reason for an error raised by SQLite or the file system."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return _BY_CODE.get(code & 0xFF, UNWRITABLE)
    if isinstance(exc, FileNotFoundError):
        return MOVED
    return UNWRITABLE


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat()


class HealthObserver(Protocol):
    """Who is told about the log's health (the server's Prometheus metrics)."""

    def log_dropped(self, reason: str, rows: int) -> None: ...

    def log_written(self, at: float) -> None: ...

    def log_up(self, up: bool) -> None: ...


class Health:
    """The health of one PredictionLog; thread-safe (the loop and the writer thread)."""

    def __init__(self, path: Path, observer: HealthObserver | None = None) -> None:
        self.path = path
        self.observer = observer
        self.reason: str | None = None
        self.detail = ""
        self.since: float | None = None
        self.last_write: float | None = None
        self.dropped: Counter[str] = Counter()
        self._dropped_at_failure = 0
        self._drops: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        """Whether the log is writing (no failure since the last successful write)."""
        return self.reason is None

    def fail(self, reason: str, detail: object = "") -> None:
        """Writing (or reading) the log failed: degraded until the next successful write.

        One warning per episode (and one more if the reason changes), not one per drain.
        """
        with self._lock:
            if reason == self.reason:
                return
            first = self.reason is None
            self.reason, self.detail = reason, str(detail)
            if first:
                self.since = time.time()
                self._dropped_at_failure = sum(self.dropped.values())
        logger.warning(
            "the prediction log %s is degraded (%s: %s); predictions are not being logged "
            "until it recovers (petalflow_prediction_log_up is 0)",
            self.path,
            reason,
            detail,
        )
        if first and self.observer is not None:
            self.observer.log_up(False)

    def wrote(self, at: float | None = None) -> None:
        """A transaction committed: the log is up again if it was degraded."""
        at = time.time() if at is None else at
        self.last_write = at
        recovered = None
        if self.reason is not None:
            with self._lock:
                if self.reason is not None:
                    recovered = (self.reason, at - (self.since or at))
                    lost = sum(self.dropped.values()) - self._dropped_at_failure
                    self.reason, self.detail, self.since = None, "", None
        if recovered is not None:
            logger.warning(
                "the prediction log %s recovered after %.1f s of %s; %d predictions were "
                "dropped meanwhile",
                self.path,
                recovered[1],
                recovered[0],
                lost,
            )
        if self.observer is not None:
            self.observer.log_written(at)
            if recovered is not None:
                self.observer.log_up(True)

    def drop(self, request_ids: Iterable[str], rows: int, reason: str) -> None:
        """Count ``rows`` predicted rows of ``request_ids`` as lost for ``reason``."""
        with self._lock:
            self.dropped[reason] += rows
            for request_id in request_ids:
                self._drops[request_id] = reason
            while len(self._drops) > _REMEMBERED_DROPS:
                self._drops.popitem(last=False)
        if self.observer is not None:
            self.observer.log_dropped(reason, rows)

    def why_dropped(self, request_id: str) -> str | None:
        """The reason request ``request_id`` was dropped by this process, if it was."""
        return self._drops.get(request_id)

    def report(self) -> dict[str, Any]:
        """The health block of the /monitoring responses."""
        return {
            "status": "ok" if self.reason is None else "degraded",
            "reason": self.reason,
            "degraded_since": _iso(self.since),
            "last_write": _iso(self.last_write),
            "dropped": {reason: n for reason, n in sorted(self.dropped.items())},
        }
