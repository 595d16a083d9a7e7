"""How the event loop spreads its share of the log's work: a drain writes what was queued
when it began, in transactions of a few rows, with pauses that spread them evenly over
the writer's period.

Why: written in one stretch, or in back-to-back slices, a drain takes the loop from the
requests for ~10 ms every period, and at 8 connections the requests that arrive
meanwhile are the p99 (measured: 3.4-3.7 ms against 1.4-1.5 ms with the log off, 200-row
transactions). Spread out, the log takes the same share of the loop, but a request waits
behind at most one slice (~0.2 ms, ~0.5 ms on a loaded core): 2.0-2.1 ms, the log costs
no throughput, and the worst stall falls from 15-100 ms to ~5 ms
(``bench/latency.py``, logreg, one worker, see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sized
from typing import Protocol

logger = logging.getLogger(__name__)

# Predicted rows per transaction on the event loop: ~6 us each to serialize and insert
# (~13 us on a loaded core), after the commit's ~0.1 ms.
SLICE_ROWS = 30
# Slices per drain at most (~10,000 single rows); what is left of the drain's requests is
# the thread's.
MAX_SLICES = 333
# A busy slice (another process writes, or this one's thread prunes) is tried again after
# this many seconds, until the period ends.
BUSY_PAUSE = 0.005


def slice_pause(seconds_left: float, items_left: int, items_per_slice: int) -> float:
    """The pause before the next slice: the time left until the period ends, shared
    evenly among the slices the drain still has to write (at the last slice's
    ``items_per_slice``); 0 when the period is over (the drain catches up)."""
    if seconds_left <= 0 or items_left <= 0:
        return 0.0
    slices = -(-items_left // max(items_per_slice, 1))  # ceiling division
    return seconds_left / slices


class SliceWriter(Protocol):
    """What ``spread`` needs of the writer: its queue and one transaction of a slice."""

    @property
    def pending(self) -> Sized: ...

    def write_slice(self, conn: sqlite3.Connection) -> int: ...


async def spread(
    writer: SliceWriter,
    conn: sqlite3.Connection,
    period_end: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Write the requests queued now, one slice at a time, spread until ``period_end``
    (on ``clock``); True if the loop fell behind: the database (or the thread, pruning)
    stayed busy until the period ended, or ``MAX_SLICES`` were not enough."""
    left = len(writer.pending)  # later arrivals wait for the next period
    slices = 0
    while left > 0 and len(writer.pending):
        took = writer.write_slice(conn)
        if took < 0:  # busy: try again shortly, never wait for the lock
            if clock() >= period_end:
                return True
            await sleep(min(BUSY_PAUSE, period_end - clock()))
            continue
        left, slices = left - took, slices + 1
        if slices >= MAX_SLICES:
            return left > 0
        await sleep(slice_pause(period_end - clock(), left, took))
    return False
