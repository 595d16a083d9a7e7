"""JSON log lines: the formatter, a handler that writes ready-made lines, the access log.

Nothing here runs at import; entry points call ``configure_logging``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

import orjson

logger = logging.getLogger(__name__)

# Access lines written on an event loop wait in memory for at most this long, or until
# this many bytes are waiting: one write(2) per ~13 lines instead of one per line.
# PIPE_BUF (4096 on Linux): a write of at most that many bytes to a pipe is atomic, so
# lines of several workers sharing one pipe never interleave.
DEFER_SECONDS = 0.1
DEFER_BYTES = 4096


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's ``fields`` extra is merged in.

    On the request path of every call, so it avoids per-line datetime formatting (the
    seconds part is cached) and encodes with orjson.
    """

    def __init__(self) -> None:
        super().__init__()
        # (second, its formatted stamp) as one tuple: threads may log at once, and two
        # separate attributes could pair one second with another's stamp.
        self._cached: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        second = int(created)
        cached_second, stamp = self._cached
        if second != cached_second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._cached = (second, stamp)
        return f"{stamp}.{int((created - second) * 1000):03d}+00:00"

    def line(
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        fields: Mapping[str, object] | None = None,
        exception: str | None = None,
    ) -> bytes:
        """The JSON document of one log line (no newline)."""
        entry: dict[str, object] = {
            "time": self._time(created),
            "level": level,
            "logger": name,
            "message": message,
        }
        if fields:
            entry.update(fields)
        if exception:
            entry["exception"] = exception
        return orjson.dumps(entry, default=str, option=orjson.OPT_SERIALIZE_NUMPY)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            fields if isinstance(fields, Mapping) else None,
            exception,
        ).decode()


class JsonLineHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler with JsonFormatter that can also write ready-made lines, at once
    (``write_line``) or a little later, with others (``defer_line``)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.formatter: JsonFormatter = JsonFormatter()
        self._deferred: list[bytes] = []
        self._deferred_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    def write_line(self, line: bytes) -> None:
        """Write one line with one write(2) where the stream has a file descriptor
        (after any deferred lines, so the order stays the order of the calls)."""
        with self.lock:  # type: ignore[union-attr]
            self._deferred.append(line + b"\n")
            self._write_deferred()

    def defer_line(self, line: bytes) -> None:
        """Write one line within ``DEFER_SECONDS``, together with the lines deferred
        meanwhile (at most ``DEFER_BYTES`` per write); at once without a running event
        loop in this thread, which the timer needs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_line(line)
            return
        data = line + b"\n"
        with self.lock:  # type: ignore[union-attr]
            if self._deferred_bytes + len(data) > DEFER_BYTES:
                self._write_deferred()
            self._deferred.append(data)
            self._deferred_bytes += len(data)
            if self._timer is None:
                self._timer = loop.call_later(DEFER_SECONDS, self.write_deferred)

    def write_deferred(self) -> None:
        """Write the deferred lines now."""
        with self.lock:  # type: ignore[union-attr]
            self._write_deferred()

    def _write_deferred(self) -> None:
        """One write of every waiting line (the caller holds the lock). Whole lines per
        call keep lines of several workers sharing a file or pipe apart; like logging
        itself, a broken stream never fails the caller."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._deferred:
            return
        data = b"".join(self._deferred)
        self._deferred.clear()
        self._deferred_bytes = 0
        try:
            try:
                fd = self.stream.fileno()
            except (AttributeError, OSError, ValueError):  # e.g. a StringIO
                self.stream.write(data.decode())
                self.stream.flush()
                return
            self.stream.flush()  # anything a text-mode writer left buffered goes first
            while data:
                data = data[os.write(fd, data) :]
        except (OSError, ValueError):
            pass

    def emit(self, record: logging.LogRecord) -> None:
        """A record through ``logging``: after the deferred lines, which were logged first."""
        self.write_deferred()
        super().emit(record)

    def flush(self) -> None:
        """Write the deferred lines and flush the stream (``logging.shutdown`` calls it
        at exit)."""
        self.write_deferred()
        super().flush()


def _sole_json_handler(logger: logging.Logger) -> JsonLineHandler | None:
    """The handler every INFO record of ``logger`` reaches, if that is one JsonLineHandler."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        found.extend(current.handlers)
        current = current.parent if current.propagate else None
    if len(found) != 1 or not isinstance(found[0], JsonLineHandler):
        return None
    handler = found[0]
    ok = not handler.filters and handler.level <= logging.INFO
    return handler if ok else None


def write_deferred(logger: logging.Logger) -> None:
    """Write the lines deferred for ``logger``'s JsonLineHandler now. A server stopped by
    SIGTERM dies by that signal once uvicorn re-raises it, so neither ``atexit`` nor
    ``logging.shutdown`` writes the last requests' lines: the app's shutdown does."""
    handler = _sole_json_handler(logger)
    if handler is not None:
        handler.write_deferred()


class AccessLog:
    """One INFO line per request on ``logger``, cheap enough for every request.

    The logging module spends ~25 us on a line (caller lookup, record, locks, json);
    when the line's only destination is a JsonLineHandler (serve.py's set-up) the same
    JSON is built directly (~3 us) and handed to its ``defer_line``: on the event loop,
    written with the lines of the next ``DEFER_SECONDS``. Any other set-up (extra
    handlers, filters, pytest's caplog) gets a normal ``logger.info`` call.
    """

    def __init__(self, logger: logging.Logger, message: str = "request") -> None:
        self.logger = logger
        self.message = message

    def __call__(self, fields: Mapping[str, object]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = _sole_json_handler(logger)
        if handler is None:
            logger.info(self.message, extra={"fields": fields})
            return
        line = handler.formatter.line(time.time(), "INFO", logger.name, self.message, fields)
        handler.defer_line(line)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for petalflow; uvicorn's access log is replaced by ours."""
    handler = JsonLineHandler(sys.stderr)
    package = logging.getLogger("petalflow")
    package.handlers[:] = [handler]
    package.setLevel(level.upper())
    package.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
