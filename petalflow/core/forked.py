"""Work run in a forked child process: on another core, and away from our GIL.

The child starts with this process's memory, so nothing is sent to it: ``Forked(work)``
forks and calls ``work(send)`` there. What the child passes to ``send``, its log records
and finally its result (or the exception it raised) come back pickled through a pipe, as
frames (8-byte length, then the pickle). The parent reads them with ``messages()`` (the
log records are logged here as they arrive) and then takes ``result()``. The child never
writes to this process's log handlers (a server's access log holds lines waiting to be
written, which would be written twice) and ends with ``os._exit`` (no exit handler runs
twice, no inherited buffer is flushed twice). Users: a server's reload (decoding a model
file), its start-up fast path (verified while scikit-learn answers) and tune (the trials
run while the parent loads MLflow and logs them).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import select
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Generic, NoReturn, TypeVar

from petalflow.core.errors import ForkedWorkError
from petalflow.core.teardown import exit_status

logger = logging.getLogger(__name__)

T = TypeVar("T")
Send = Callable[[Any], None]
_CHUNK = 1 << 20
_HEADER = 8
STOP_GRACE_SECONDS = 5.0
_SENT = "_petalflow_sent"  # on a record: the pid of the child that sent it


def _frame(kind: str, payload: Any) -> bytes:
    body = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(_HEADER, "big") + body


class _Pipe:
    """The child's end: whole frames, one at a time (the work may send from threads)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def write(self, kind: str, payload: Any) -> None:
        frame = _frame(kind, payload)
        with self.lock:
            view = memoryview(frame)
            while view:
                view = view[os.write(self.fd, view[:_CHUNK]) :]


class _Records(logging.Handler):
    """Sends every record the child's loggers handle, each once, as a ``log`` frame."""

    def __init__(self, pipe: _Pipe) -> None:
        super().__init__()
        self.pipe = pipe

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, _SENT, None) == os.getpid():  # it reached two loggers' handlers
            return
        setattr(record, _SENT, os.getpid())  # a child of this child sends it again
        try:
            record.msg, record.args = record.getMessage(), None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self.pipe.write("log", record)
        except Exception:  # an unpicklable extra=, say: logging's own way, not the work's
            self.handleError(record)


def _send_logs_to(pipe: _Pipe) -> None:
    """Point every logger that has handlers at one sender instead (child only)."""
    sender = _Records(pipe)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for each in loggers:
        if isinstance(each, logging.Logger) and each.handlers:
            each.handlers = [sender]


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` with the child's traceback as a note, or a ForkedWorkError naming it."""
    exc.add_note("In the forked child:\n" + "".join(traceback.format_tb(exc.__traceback__)))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return ForkedWorkError(f"failed: {type(exc).__name__}: {exc}")
    return exc


def _child(work: Callable[[Send], Any], fd: int) -> NoReturn:
    """Run ``work(send)``, write its frames and then its outcome to ``fd``; never returns."""
    code = 1
    try:
        # A Ctrl-C reaches the whole process group: the child just ends (the parent sees
        # no outcome) and never writes the signal to the parent's wake-up descriptor.
        # A signal the parent ignores (SIGINT of a background job) stays ignored.
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
        pipe = _Pipe(fd)
        _send_logs_to(pipe)
        try:
            outcome: tuple[bool, Any] = (True, work(lambda message: pipe.write("send", message)))
        except Exception as exc:
            outcome = (False, _picklable(exc))
        try:
            pipe.write("done", outcome)
        except Exception as exc:  # pickling failed: nothing of the frame was written
            reason = f"failed: the answer cannot be pickled ({type(exc).__name__}: {exc})"
            pipe.write("done", (False, ForkedWorkError(reason)))
        code = 0
    except SystemExit as exc:  # the work's own way out (a stop handler's): its status
        code = exit_status(exc.code)
    finally:
        os._exit(code)


class Forked(Generic[T]):
    """``work(send)`` running in a forked child; a context manager that stops it on exit."""

    def __init__(self, work: Callable[[Send], T]) -> None:
        self.pid: int | None = None
        self._code = 0
        self._buffer = bytearray()
        self._outcome: tuple[bool, Any] | None = None
        self._reaped = threading.Event()  # see interrupter
        self._watchers: list[threading.Event] = []
        read, write = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: a roomier pipe, the child waits less
            with contextlib.suppress(OSError):
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _CHUNK)
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
        self.pid, self._fd = pid, read

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def messages(self, timeout: float | None = None) -> Iterator[Any]:
        """What the child sends, in order, until it ends; its log records are logged here.

        ForkedWorkError (the child killed) if it has not ended within ``timeout`` seconds.
        """
        if self.pid is None:
            return
        for kind, payload in self._frames(timeout):
            if kind == "send":
                yield payload
            elif kind == "log":
                logging.getLogger(payload.name).handle(payload)
            else:
                self._outcome = payload
        self._reap()

    def result(self) -> T:
        """The work's result, or the exception it raised (its type kept when picklable);
        ForkedWorkError if the child ended without one. Reads what is left to read."""
        for _ in self.messages():
            pass
        return self._take()

    def interrupter(self, grace: float = STOP_GRACE_SECONDS) -> Callable[[], None]:
        """A function that sends the child SIGTERM, and SIGKILL if it still runs ``grace``
        seconds later; unlike ``stop()``, what the child sends on its way out can still be
        read (``messages()`` ends once it has ended). It is meant for a signal handler: it
        neither waits nor reaps, and starts nothing (a thread that may interrupt one of
        the threading module's locks must not take them): the thread that waits out the
        grace starts now, and ends with the child."""
        asked, pid = threading.Event(), self.pid
        if pid is None:
            return asked.set
        self._watchers.append(asked)

        def watch() -> None:
            asked.wait()
            if not self._reaped.wait(grace) and self.pid == pid:
                logger.warning(
                    "the child %d did not end within %g s of SIGTERM; killing it", pid, grace
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

        threading.Thread(target=watch, name="forked-stop", daemon=True).start()

        def interrupt() -> None:
            if self.pid == pid:  # not yet reaped: the pid is still the child's
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            asked.set()

        return interrupt

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """End the child if it still runs, and reap it (no zombie is left): SIGTERM (the
        work may have a handler that cleans up), then SIGKILL after ``grace`` seconds."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while (ended := os.waitpid(self.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                ended = os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        self._reap(ended[1])

    def _take(self) -> T:
        if self._outcome is None:
            why = "killed, or out of memory?" if self._code < 0 else "the work exited"
            raise ForkedWorkError(f"ended with exit code {self._code} and no answer ({why})")
        ok, value = self._outcome
        if ok:
            return value
        raise value

    def _frames(self, timeout: float | None) -> Iterator[tuple[str, Any]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        buffer = self._buffer  # kept: a later call goes on where an abandoned one stopped
        while True:
            while len(buffer) >= _HEADER:
                size = int.from_bytes(buffer[:_HEADER], "big")
                if len(buffer) < _HEADER + size:
                    break
                frame = pickle.loads(buffer[_HEADER : _HEADER + size])
                del buffer[: _HEADER + size]
                yield frame
            if self.pid is None:  # stopped meanwhile: our end is closed, maybe reused
                return
            wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                self.stop()
                raise ForkedWorkError(f"gave no answer in {timeout:g} s and was stopped")
            chunk = os.read(self._fd, _CHUNK)  # waits (select, read) release the GIL
            if not chunk:
                return
            buffer += chunk

    def _reap(self, status: int | None = None) -> None:
        """Close our end and wait for the child (``status``: it was waited for already)."""
        pid, self.pid = self.pid, None  # whatever happens next, never twice
        if pid is None:
            return
        self._reaped.set()
        for watcher in self._watchers:  # each ends now
            watcher.set()
        try:
            os.close(self._fd)
        finally:
            if status is None:
                status = os.waitpid(pid, 0)[1]
            self._code = os.waitstatus_to_exitcode(status)
        logger.debug("child %d ended with exit code %d", pid, self._code)
