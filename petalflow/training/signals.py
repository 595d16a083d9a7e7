"""Holding SIGTERM and Ctrl-C for the length of a block that must not be cut short:
the creation of a new MLflow store (stopped midway, MLflow cannot open it again), the
writing of a tune trial's child run (stopped midway, it stays RUNNING and its store
session holds the database's lock), a training's publishing (so that its folder, alias and
run agree), and in tune's search child the asking of a trial."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def signals_held(notice: str | None = None) -> Iterator[None]:
    """SIGTERM and Ctrl-C wait until the block ends, then act. A second signal acts at
    once (a store that hangs can still be left). ``notice`` is logged when one is held."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set handlers (and it is the one signals reach)
        return
    held: list[int] = []
    previous: dict[int, Any] = {}

    def hold(got: int, _frame: object) -> None:
        if held:  # the second: the first is dropped, this one acts now
            held.clear()
            _restore(previous)
            signal.raise_signal(got)
            return
        held.append(got)
        if notice:
            logger.warning("%s", notice)

    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        _restore(previous)
        if held:  # the first one: its handler raises here, after the block
            signal.raise_signal(held[0])


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
    while a trial is being asked (``held``), when it waits for the trial to be noted as
    in flight: stopped inside ``study.ask()`` the search would not know the trial, and
    leave it RUNNING in a shared study."""

    def __init__(self) -> None:
        # A plain flag, shared with the handler (main thread) and the thread asking: one
        # thread asks at a time (the search's lock), and the handler only reads it.
        self.holding = False
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
            return
        self.stopping = True
        raise SystemExit(128 + signum)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold a stop until the block ends, then act on it."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            if self.waiting is not None:
                signum, self.waiting = self.waiting, None
                # To the main thread, which runs Python's handlers: it is woken if it
                # waits on a lock or in a system call. raise_signal (this thread only)
                # would leave it waiting; os.kill lets the kernel pick any thread.
                main = threading.main_thread().ident
                signal.pthread_kill(main, signum)  # type: ignore[arg-type]
