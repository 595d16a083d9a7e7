"""Holding SIGTERM and Ctrl-C for the length of a block that must not be cut short:
the creation of a new MLflow store (stopped midway, MLflow cannot open it again), the
logging of a tune's trials (a child run stopped midway stays RUNNING and its store
session holds the database's lock; a trial the search finished must get its child run),
a training's publishing (so that its folder, alias and run agree), and in tune's search
child the asking of a trial and the telling and sending of its result."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

DRAINING = (
    "stopping: the search fails its trials in flight, and the trials it finished are "
    "logged first (a second signal stops now)"
)


@contextlib.contextmanager
def signals_held(
    notice: str | None = None, on_hold: Callable[[], None] | None = None
) -> Iterator[list[int]]:
    """SIGTERM and Ctrl-C wait until the block ends, then act. A second signal acts at
    once (a store that hangs can still be left). ``notice`` is logged and ``on_hold``
    called when one is held; the block gets the list of the signal held (empty if none).
    Inside another such block, a signal is held by both, and acts when the outer ends."""
    hold = _Hold(notice, on_hold)
    if threading.current_thread() is not threading.main_thread():
        yield hold.held  # only the main thread can set handlers (and signals reach it)
        return
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                hold.previous[signum] = signal.signal(signum, hold)
        yield hold.held
    finally:
        _restore(hold.previous)
        if hold.held and not hold.forwarded:  # the first one: it acts now, after the block
            signal.raise_signal(hold.held[0])


class _Hold:
    """The handler of a ``signals_held`` block."""

    def __init__(self, notice: str | None, on_hold: Callable[[], None] | None) -> None:
        self.notice = notice
        self.on_hold = on_hold
        self.held: list[int] = []
        self.previous: dict[int, Any] = {}
        self.forwarded = False  # an enclosing block holds it too, and acts at its end

    def __call__(self, got: int, frame: Any) -> None:
        if self.held:  # the second: the first is dropped, this one acts now
            self.held.clear()
            _restore(self.previous)
            outer = signal.getsignal(got)
            if isinstance(outer, _Hold):  # it is the enclosing block's second, too
                outer(got, frame)
            else:
                signal.raise_signal(got)
            return
        self.held.append(got)
        if self.notice:
            logger.warning("%s", self.notice)
        if self.on_hold is not None:
            self.on_hold()
        outer = self.previous.get(got)
        if isinstance(outer, _Hold):
            self.forwarded = True
            outer(got, frame)


def _restore(previous: dict[int, Any]) -> None:
    """Put each handler back, even if a signal's handler raises in between."""
    raised: BaseException | None = None
    while previous:
        signum, handler = previous.popitem()
        try:
            signal.signal(signum, handler)
        except BaseException as exc:  # a waiting handler ran (and raised) before the swap
            raised = raised or exc
            previous[signum] = handler
    if raised is not None:
        raise raised


class SearchStop:
    """The handler of SIGTERM and Ctrl-C in tune's search child: SystemExit, except
    inside a storage call (``held``), when it waits for the call's end: stopped inside
    ``study.ask()`` the search would not know the trial, and leave it RUNNING in a shared
    study; inside any call, the interrupted connection would keep the database locked."""

    def __init__(self) -> None:
        # How many threads are inside ``held``: changed under the lock, read without it
        # by the handler (main thread), which must not wait for a lock its thread holds.
        self.holding = 0
        self.lock = threading.Lock()
        self.waiting: int | None = None
        self.stopping = False

    def handle(self, signum: int, _frame: object) -> None:
        """The signal handler (SIGTERM, SIGINT): stop, hold the stop, or ignore it."""
        # One stop is enough: Ctrl-C reaches both processes, and the parent then sends
        # SIGTERM, which must not cut short the failing of the trials in flight. (Not
        # by SIG_IGN: Python reports a signal already pending for an ignored handler.)
        if self.stopping:
            return
        if self.holding:
            if self.waiting is None:  # the first stop names the exit status
                self.waiting = signum
            if self.holding:  # else the last block ended meanwhile, maybe before it saw us
                return
        self.stopping = True
        raise SystemExit(128 + signum)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold a stop until the block ends (every thread's block), then act on it."""
        with self.lock:
            self.holding += 1
        try:
            yield
        finally:
            with self.lock:
                self.holding -= 1
                signum = self.waiting if self.holding == 0 else None
                if signum is not None:
                    self.waiting = None
            if signum is not None:
                # To the main thread, which runs Python's handlers: it is woken if it
                # waits on a lock or in a system call. raise_signal (this thread only)
                # would leave it waiting; os.kill lets the kernel pick any thread.
                main = threading.main_thread().ident
                signal.pthread_kill(main, signum)  # type: ignore[arg-type]
