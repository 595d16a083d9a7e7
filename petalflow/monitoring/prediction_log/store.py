"""``PredictionLog``: the facade the server uses to record, read and label predictions."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from petalflow.core.errors import (
    PredictionLogError,
    PredictionLogUnavailableError,
    PredictionNotFoundError,
)
from petalflow.monitoring.prediction_log import queries, retention
from petalflow.monitoring.prediction_log.database import connect, open_readonly
from petalflow.monitoring.prediction_log.encoding import (
    CodedLabels,
    QueuedRequest,
    Rows,
    ShadowScores,
)
from petalflow.monitoring.prediction_log.health import Health, HealthObserver
from petalflow.monitoring.prediction_log.logfile import REFUSE, LogFile
from petalflow.monitoring.prediction_log.schema import start_remedy
from petalflow.monitoring.prediction_log.writer import Writer

logger = logging.getLogger(__name__)

# Client-chosen request ids remembered in memory, so that a reused one is recognised
# before its request is written (a written one is found in the file).
_REMEMBERED_IDS = 10_000


def _width(rows: Rows, what: str) -> int:
    """The length of the first row: O(1), whatever the number of rows."""
    try:
        return len(rows[0])
    except TypeError:
        raise ValueError(
            f"{what} must be rows (a list of lists or a 2-D array), not one flat row"
        ) from None


class PredictionLog(queries.Reads):
    """Append-only prediction log with feedback; see the package docstring.

    The constructor only stores settings; ``start()`` opens the file and starts the
    writer thread, ``close()`` writes what is queued and stops it (or use ``with``).
    """

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 100_000,
        prune_every: int = 10_000,
        batch_size: int = 2_000,
        max_pending: int = 100_000,
        busy_timeout: float = 10.0,
        linger: float = 0.25,
        on_damage: str = REFUSE,
        observer: HealthObserver | None = None,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._started = False
        self._remembered: dict[str, QueuedRequest] = {}
        self._lookup: tuple[sqlite3.Connection, int] | None = None  # and its file generation
        self._lookup_lock = threading.Lock()  # the loop and worker threads share it
        self.health = Health(self.path, observer)
        self._file = LogFile(self.path, busy_timeout, on_damage)
        self._writer = Writer(
            self._file,
            self.health,
            max_rows=max_rows,
            prune_every=prune_every,
            batch_size=batch_size,
            max_pending=max_pending,
            busy_timeout=busy_timeout,
            linger=linger,
        )

    @property
    def dropped(self) -> int:
        """Predicted rows lost, for any reason (``health.dropped`` counts them by reason)."""
        return sum(self.health.dropped.values())

    def start(self) -> PredictionLog:
        """Check the file, create or migrate its schema, start the writer thread; self.

        Raises PredictionLogError, naming the path and the fix, for a file it cannot use
        (a damaged file is moved aside instead when ``on_damage`` is ``move_aside``).
        """
        if self._started:
            raise RuntimeError(f"the prediction log {self.path} is already started")
        try:
            self._file.prepare()
        except sqlite3.Error as exc:
            raise PredictionLogError(
                f"cannot use {self.path} as the prediction log ({exc}); {start_remedy(exc)}"
            ) from exc
        self._writer.start()
        self._started = True
        return self

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, then stop the writer thread; later records are dropped.
        A file still locked after ``timeout`` keeps the rest from it: said, as lost."""
        if (queued := self._writer.close(timeout)) is not None:
            logger.error(
                "%s: still locked (or slow) %g s after shutdown began: the requests of the "
                "transaction waiting for it, and %d more queued, end with the process",
                self.path,
                timeout,
                queued,
            )
        with self._lookup_lock:
            self._close_lookup()

    def __enter__(self) -> PredictionLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(
        self,
        request_id: str,
        model_version: str,
        features: Rows,
        labels: Sequence[str],
        classes: Sequence[str],
        probabilities: Rows,
        created_at: float | None = None,
        remember: bool = False,
        codes: np.ndarray | None = None,
    ) -> bool:
        """Queue the predictions of one request as one item: O(1) work, whatever its rows.

        ``features`` is (n, k), ``labels`` n long, ``probabilities`` (n, len(classes)),
        as lists or numpy arrays, which must not be modified afterwards: the writer
        serializes them. ``codes``, if given, holds each label's position in ``classes``
        (an integer array, n long): a batch's labels are then queued as those
        (``CodedLabels``), not as the list. False if dropped (queue full or log closed).
        ``remember`` keeps the request for ``lookup`` until it is written (a
        client-chosen request id).
        """
        n = len(labels)
        if not len(features) == len(probabilities) == n:
            raise ValueError(f"{len(features)} rows, {n} labels, {len(probabilities)} probas")
        if codes is not None and len(codes) != n:
            raise ValueError(f"{n} labels, but {len(codes)} label codes")
        if codes is not None and codes.dtype.kind not in "iu":
            raise ValueError(
                f"label codes must be integers (positions in classes), not {codes.dtype}"
            )
        if n:
            _width(features, "features")
            if _width(probabilities, "probabilities") != len(classes):
                raise ValueError(
                    f"expected {len(classes)} probabilities per row (one per class), "
                    f"got {len(probabilities[0])}"
                )
        when = time.time() if created_at is None else created_at
        if codes is not None and n > 1:  # a single label costs the collector nothing
            labels = CodedLabels(codes, classes)
        item = QueuedRequest(
            request_id, when, model_version, n, features, labels, probabilities, classes
        )
        if remember:
            self._remembered[request_id] = item
            if len(self._remembered) > _REMEMBERED_IDS:
                del self._remembered[next(iter(self._remembered))]
        return self._writer.enqueue(item)

    def record_shadow(
        self,
        request_id: str,
        model_version: str,
        labels: Sequence[str],
        classes: Sequence[str],
        probabilities: Rows,
        created_at: float | None = None,
    ) -> bool:
        """Queue a shadow model's answer to the recorded request ``request_id`` (its rows
        in the same order): O(1); False if dropped (queue full or log closed)."""
        when = time.time() if created_at is None else created_at
        item = ShadowScores(
            request_id, when, model_version, len(labels), labels, probabilities, classes
        )
        return self._writer.enqueue(item)

    def lookup(self, request_id: str) -> QueuedRequest | None:
        """The request recorded (or logged) under ``request_id``, None if there is none."""
        found = self._remembered.get(request_id)
        if found is not None:
            return found
        with self._lookup_lock:
            try:
                return queries.logged_request(self._lookup_connection(), request_id)
            except sqlite3.Error:
                self._close_lookup()  # reopened next time: the file may have been fixed
                raise

    def _lookup_connection(self) -> sqlite3.Connection:
        """The read-only connection ``lookup`` keeps: opening one per request (every
        request with an X-Request-ID) cost ~300 us, more than the prediction."""
        self._require_started()
        if not self._writer.follow_file():
            self._close_lookup()
            raise PredictionLogUnavailableError(
                "the prediction log's file was moved or deleted and is being recreated; "
                "retry in a second"
            )
        generation = self._file.generation
        if self._lookup is None or self._lookup[1] != generation:
            self._close_lookup()
            self._lookup = (open_readonly(self.path, self.busy_timeout), generation)
        return self._lookup[0]

    def _close_lookup(self) -> None:
        if self._lookup is not None:
            self._lookup[0].close()
            self._lookup = None

    async def write_from_loop(self) -> None:
        """Write the queue from the running event loop every ``linger`` s, until cancelled.

        The server runs this as a task after ``start()``. A drain never waits for a lock:
        when the database is busy the records stay queued, and the thread catches up.
        """
        self._require_started()
        await self._writer.write_from_loop()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write every queued record now, in the calling thread; False if the database or
        another writer stayed busy for ``timeout`` seconds (the records stay queued)."""
        self._require_started()
        return self._writer.flush(timeout)

    def prune(self) -> int:
        """Delete the requests with ``max_rows`` rows newer than them; returns rows deleted."""
        with self._connection() as conn:
            return retention.prune(conn, self._writer.max_rows, self.path)

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError(
                f"the prediction log {self.path} is not started; call start() first "
                "(or use it as a context manager)"
            )

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection to the file being written: never a new empty file at the path."""
        self._require_started()
        if not self._writer.follow_file():
            raise PredictionLogUnavailableError(
                "the prediction log's file was moved or deleted and is being recreated; "
                "retry in a second"
            )
        with connect(self.path, self.busy_timeout, create=False) as conn:
            yield conn

    def add_feedback(self, request_id: str, true_label: str, wait: float = 0.5) -> str:
        """Store ``true_label`` for the predicted row ``request_id``; returns its predicted label.

        A prediction still queued in this instance is flushed first; one still queued in
        another process is waited for up to ``wait`` seconds. Raises UnknownLabelError
        (not a class of the model that made the prediction, which may not be the one
        served now), PredictionNotFoundError or AlreadyLabelledError.
        """
        deadline, attempt = time.monotonic() + wait, 0
        while True:
            with self._connection() as conn:
                target = queries.find(conn, request_id)
                if target is not None:
                    queries.check_label(true_label, target)
                    queries.insert_feedback(conn, target, true_label, request_id)
                    return target.predicted_label
            if attempt == 0:
                self.flush(timeout=2.0)  # not the busy timeout: a locked log answers 503 fast
            elif time.monotonic() < deadline:
                time.sleep(0.02)
            else:
                break
            attempt += 1
        raise PredictionNotFoundError(
            f"no logged prediction has request id {request_id!r}; use the request id "
            "returned by /predict ('<request-id>:<index>' for a batch row)"
        )
