"""How the event loop spreads its share of the log's work: a drain encodes what was
queued when it began, a few rows at a time, with pauses that spread the slices evenly
over the writer's period (the thread then inserts them).

Why: done in one stretch, or in back-to-back slices, a drain takes the loop from the
requests for milliseconds every period, and at 8 connections the requests that arrive
meanwhile are the p99 (measured when the slices were whole transactions: 3.4-3.7 ms
against 1.4-1.5 ms with the log off, 200-row transactions). Spread out, the log takes the
same share of the loop, but a request waits behind at most one slice
(``bench/latency.py``, logreg, one worker, see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sized
from typing import Protocol

logger = logging.getLogger(__name__)

# Predicted rows per slice on the event loop: ~1 us each to encode in one process.
SLICE_ROWS = 30
# Slices per drain at most (~10,000 single rows); what is left of the drain's requests is
# the thread's.
MAX_SLICES = 333
# A refused slice (the thread has not inserted the slices before it: a locked file) is
# tried again after this many seconds, until the period ends.
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
    """What ``spread`` needs of the writer: its queue and one slice's work."""

    @property
    def pending(self) -> Sized: ...

    def encode_slice(self) -> int: ...


async def spread(
    writer: SliceWriter,
    period_end: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Encode the requests queued now, one slice at a time, spread until ``period_end``
    (on ``clock``); True if the loop fell behind: the writer refused slices until the
    period ended, or ``MAX_SLICES`` were not enough."""
    left = len(writer.pending)  # later arrivals wait for the next period
    slices = 0
    while left > 0 and len(writer.pending):
        took = writer.encode_slice()
        if took < 0:  # refused: try again shortly, never wait for the thread
            if clock() >= period_end:
                return True
            await sleep(min(BUSY_PAUSE, period_end - clock()))
            continue
        left, slices = left - took, slices + 1
        if slices >= MAX_SLICES:
            return left > 0
        await sleep(slice_pause(period_end - clock(), left, took))
    return False
