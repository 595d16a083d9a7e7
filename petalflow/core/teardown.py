"""Ending a command's process without the interpreter's teardown.

At exit, CPython frees every module and object one by one: after a training that is the
millions of objects MLflow, scikit-learn and pandas made, ~0.4 s of a ~5 s train.py or
tune (measured: 0.34-0.43 s from ``main`` returning to the process ending, 0.03-0.05 s
without). Nothing of that work is visible outside the process, so the entry points skip
it once their work is done.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from petalflow.core.errors import PetalflowError


def exit_without_teardown(status: int) -> NoReturn:
    """Exit with ``status`` as ``sys.exit`` would, minus the teardown: the ``atexit``
    handlers run and the standard streams are flushed. While a non-daemon thread runs,
    the usual exit is taken instead, which waits for it."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()):
        sys.exit(status)
    # What Python runs at exit, in its order, up to the teardown (the module is C; the
    # function is what the interpreter itself calls).
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: there is nothing left to write to.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def run_entry_point(name: str, entry: Callable[[], int]) -> NoReturn:
    """Run a command's ``entry`` and exit with its status, without the teardown. Ctrl-C
    (KeyboardInterrupt, once the command's own cleanup has run as it unwound) prints one
    line instead of a traceback (after the error it interrupted, if one was in flight)
    and exits 130, as a shell reports it."""
    try:
        status = entry()
    except SystemExit as exit_:  # argparse's usage errors, a SIGTERM handler's exit
        # Through the same exit: the teardown can abort the process (exit 134, "terminate
        # called without an active exception") while a library's native thread runs.
        _say_what_failed(name, exit_)
        status = _status_of(exit_.code)
    except KeyboardInterrupt as stop:
        _say_what_failed(name, stop)
        print(f"{name}: interrupted", file=sys.stderr)
        status = 130
    exit_without_teardown(status)


def _say_what_failed(name: str, stop: BaseException) -> None:
    """A stop (Ctrl-C, a signal's exit >= 128) held through a failure is raised over it:
    say what failed, too. argparse's exit 2, raised while handling an error it has just
    named (``parser.error``), says nothing more."""
    signalled = not isinstance(stop, SystemExit) or (
        isinstance(stop.code, int) and stop.code >= 128
    )
    if signalled and isinstance(stop.__context__, PetalflowError):
        print(f"{name}: {stop.__context__}", file=sys.stderr)


def exit_status(code: object) -> int:
    """The status for ``SystemExit(code)``: 0 for None, an int that fits a status as is,
    else 1 (for which the interpreter prints a value that is not an int)."""
    if code is None:
        return 0
    return code if isinstance(code, int) and 0 <= code <= 255 else 1


def _status_of(code: object) -> int:
    """``exit_status``, printing a message first as the interpreter does (``sys.exit("...")``)."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    return exit_status(code)
