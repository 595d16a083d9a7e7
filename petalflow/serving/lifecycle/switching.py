"""Quicker GIL hand-overs while a model loads beside the requests.

A reload loads, verifies and warms its candidate in a thread of the serving process. That
thread holds the GIL whenever it runs Python; the event loop, back from waiting on a
socket, waits for it for up to the interpreter's switch interval (5 ms by default) each
time, and a request does that several times. While a load runs, the interval is lowered
so that the loop waits at most ``interval`` instead (the effect on the p99 is in
docs/performance.md).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# 0.2 ms: well under a request's time on the loop (~0.2-0.3 ms). The price is the loading
# thread's: under load it gets fewer turns, and a 200-tree forest took ~1/5 longer to load.
LOADING_INTERVAL = 0.0002


class QuickSwitching:
    """``sys.setswitchinterval(interval)`` while any thread is inside ``during()``.

    The switch interval belongs to the whole interpreter, so the followers of one server
    (the served model's and the shadow's) share one instance: the interval is lowered when
    the first load starts and put back when the last one ends, whatever their order. It
    is put back only if it is still the one set here: an interval someone else chose
    meanwhile (or another instance's, restored first) is left alone.
    """

    def __init__(self, interval: float = LOADING_INTERVAL) -> None:
        if not interval > 0:
            raise ValueError(f"switch interval must be > 0 seconds, got {interval!r}")
        self.interval = interval
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: float | None = None
        self._set: float | None = None  # as read back: CPython rounds to microseconds

    @contextmanager
    def during(self) -> Iterator[None]:
        """Run the body with the lowered interval (restored on the way out, even on error)."""
        with self._lock:
            if self._inside == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self.interval, self._saved))
                self._set = sys.getswitchinterval()
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._saved is not None:
                    if sys.getswitchinterval() == self._set:
                        sys.setswitchinterval(self._saved)
                    self._saved = self._set = None
