"""A reload's heavy Python work in a forked child process, away from the requests' GIL.

Unpacking a model file is pure Python for the most part (skops rebuilds and audits a
200-tree forest node by node, ~0.3 s), and so is verifying its fast path (~0.2 s); the
thread that does it takes the GIL from the event loop for as long. ``in_child`` runs such
work in a child forked for it (it sees the server's memory, so nothing is sent to it)
and hands back the pickled result, which the server unpickles in a few milliseconds of C. The child's log records travel back
with the result and are logged by the server; the child never writes the server's log
itself (the access log's waiting lines would be written twice). The pickle crosses only a
pipe from the server's own child, which decoded the file with the usual checks (skops'
trusted types, or the sha256 of ``model.joblib``).
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from petalflow.core.errors import ModelLoadError

logger = logging.getLogger(__name__)

T = TypeVar("T")
_CHUNK = 1 << 20
# A child stuck for this long (a lock that another thread held when it was forked, say)
# is killed, so that the reload ends and the next one can run.
ANSWER_SECONDS = 600.0


class _Records(logging.Handler):
    """Every record the child's loggers handle, ready to be pickled (each once)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self._seen: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) in self._seen:  # it reached two loggers' handlers
            return
        self._seen.add(id(record))
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)


def _collect_logs() -> _Records:
    """Point every logger that has handlers at one collector instead (child only)."""
    collector = _Records()
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for each in loggers:
        if isinstance(each, logging.Logger) and each.handlers:
            each.handlers = [collector]
    return collector


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return ModelLoadError(f"{type(exc).__name__}: {exc}")
    return exc


def _child(work: Callable[[], Any], fd: int) -> NoReturn:
    """Run ``work`` and write (ok, result or exception, records) to ``fd``; never returns.

    ``os._exit``: no exit handler of the server's runs here, no buffer is flushed twice.
    """
    code = 1
    try:
        # A Ctrl-C reaches the whole process group: the child just ends (the server sees
        # no answer) and never writes the signal to the server's wake-up descriptor.
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        records = _collect_logs()
        try:
            outcome: tuple[bool, Any, list[logging.LogRecord]] = (True, work(), records.records)
        except Exception as exc:
            outcome = (False, _picklable(exc), records.records)
        try:
            answer = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            failure = ModelLoadError(f"the answer cannot be pickled ({type(exc).__name__}: {exc})")
            answer = pickle.dumps((False, failure, records.records))
        view = memoryview(answer)
        while view:
            view = view[os.write(fd, view[:_CHUNK]) :]
        code = 0
    finally:
        os._exit(code)


def _read_all(fd: int, timeout: float) -> bytes | None:
    """Everything written to ``fd`` until it closes; None if that takes over ``timeout`` s."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
        if not ready:
            return None
        chunk = os.read(fd, _CHUNK)  # waits (select, read) release the GIL
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def in_child(work: Callable[[], T], timeout: float = ANSWER_SECONDS) -> T:
    """``work()`` run in a forked child process: its result, or the exception it raised.

    ModelLoadError if the child ends without an answer (killed, out of memory), or gives
    none within ``timeout`` seconds (it is killed then: a reload never hangs for good).
    Where the platform cannot fork, ``work()`` runs here.
    """
    if not hasattr(os, "fork"):
        return work()
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        raise
    if pid == 0:
        os.close(read)
        _child(work, write)
    os.close(write)
    try:
        payload = _read_all(read, timeout)
        if payload is None:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(read)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if payload is None:
        raise ModelLoadError(
            f"the process decoding the model gave no answer in {timeout:g} s and was stopped; "
            "the current model keeps serving; retry the reload"
        )
    if code != 0 or not payload:
        raise ModelLoadError(
            f"the process decoding the model ended with exit code {code} and no answer "
            "(killed, or out of memory?); the current model keeps serving; retry the reload"
        )
    ok, value, records = pickle.loads(payload)
    logger.debug("child %d answered with %d bytes", pid, len(payload))
    for record in records:
        logging.getLogger(record.name).handle(record)
    if ok:
        return value
    raise value
