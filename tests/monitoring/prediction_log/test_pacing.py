"""The event loop's slices: spread evenly over the period, only what was queued when the
drain began, and the rest left to the thread when the loop falls behind (the thread has
not inserted the slices before, or the period needs over ``MAX_SLICES``)."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from petalflow.monitoring.prediction_log import pacing


@pytest.mark.parametrize(
    ("seconds_left", "items_left", "per_slice", "pause"),
    [
        (0.1, 60, 30, 0.05),  # two slices left share the 0.1 s
        (0.1, 61, 30, 0.1 / 3),  # a partial slice is a slice
        (0.1, 30, 30, 0.1),
        (0.1, 4, 0, 0.025),  # a slice takes at least one item
        (0.0, 60, 30, 0.0),  # the period is over: catch up
        (-0.5, 60, 30, 0.0),
        (0.1, 0, 30, 0.0),  # nothing left
    ],
)
def test_slice_pause_shares_the_time_left_among_the_slices_left(
    seconds_left: float, items_left: int, per_slice: int, pause: float
) -> None:
    assert pacing.slice_pause(seconds_left, items_left, per_slice) == pytest.approx(pause)


class FakeWriter:
    """A queue of items and an ``encode_slice`` taking ``per_slice`` of them; each slice
    may see ``arrivals`` new requests queued meanwhile, or be refused (the thread is
    behind)."""

    def __init__(self, queued: int, per_slice: int = 30, arrivals: int = 0) -> None:
        self.pending: deque[str] = deque(f"old-{i}" for i in range(queued))
        self.per_slice, self.arrivals = per_slice, arrivals
        self.written: list[list[str]] = []
        self.busy = 0  # slices refused (-1: all)

    def encode_slice(self) -> int:
        if self.busy:
            self.busy -= 1
            return -1
        taken = [self.pending.popleft() for _ in range(min(self.per_slice, len(self.pending)))]
        self.written.append(taken)
        self.pending.extend(f"new-{len(self.written)}-{i}" for i in range(self.arrivals))
        return len(taken)


class FakeTime:
    """A clock that only the pauses move."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def run_spread(writer: FakeWriter, fake: FakeTime, period: float) -> bool:
    return asyncio.run(pacing.spread(writer, fake.now + period, fake.clock, fake.sleep))


def test_spread_paces_the_slices_evenly_over_the_period() -> None:
    writer, fake = FakeWriter(90), FakeTime()
    assert run_spread(writer, fake, period=10.0) is False
    assert [len(s) for s in writer.written] == [30, 30, 30]
    # After slice 1: 60 left = 2 slices in 10 s; after slice 2: 1 slice in the 5 s left.
    assert fake.pauses == pytest.approx([5.0, 5.0, 0.0])
    assert not writer.pending


def test_spread_writes_only_what_was_queued_when_it_began() -> None:
    writer, fake = FakeWriter(60, arrivals=7), FakeTime()
    assert run_spread(writer, fake, period=1.0) is False
    written = [item for s in writer.written for item in s]
    assert written[:60] == [f"old-{i}" for i in range(60)]
    assert len(writer.written) == 2  # the 14 arrivals wait for the next period
    assert len(writer.pending) == 14 and all(i.startswith("new-") for i in writer.pending)


def test_spread_catches_up_without_pauses_once_the_period_is_over() -> None:
    writer, fake = FakeWriter(90), FakeTime()
    assert run_spread(writer, fake, period=0.0) is False
    assert fake.pauses == [0.0, 0.0, 0.0] and not writer.pending


def test_spread_retries_a_refused_slice_until_the_period_ends_then_is_behind() -> None:
    writer, fake = FakeWriter(90), FakeTime()
    writer.busy = -1
    assert run_spread(writer, fake, period=0.012) is True
    assert writer.written == [] and len(writer.pending) == 90
    # 5 ms apart, never past the period's end: 0.005 + 0.005 + 0.002 = 0.012 s.
    assert fake.pauses == pytest.approx([0.005, 0.005, 0.002])


def test_spread_encodes_once_the_thread_has_caught_up() -> None:
    writer, fake = FakeWriter(60), FakeTime()
    writer.busy = 2
    assert run_spread(writer, fake, period=1.0) is False
    assert [len(s) for s in writer.written] == [30, 30] and not writer.pending
    # Two 5 ms retries; after the first slice, the one left gets the 0.99 s left.
    assert fake.pauses == pytest.approx([0.005, 0.005, 0.99, 0.0])


def test_spread_leaves_the_rest_to_the_thread_after_max_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pacing, "MAX_SLICES", 2)
    writer, fake = FakeWriter(90), FakeTime()
    assert run_spread(writer, fake, period=1.0) is True
    assert len(writer.written) == 2 and len(writer.pending) == 30


def test_spread_of_an_empty_queue_writes_nothing() -> None:
    writer, fake = FakeWriter(0), FakeTime()
    assert run_spread(writer, fake, period=1.0) is False
    assert writer.written == [] and fake.pauses == []


def test_spread_at_max_slices_with_only_later_arrivals_queued_is_not_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pacing, "MAX_SLICES", 2)
    writer, fake = FakeWriter(60, arrivals=5), FakeTime()
    assert run_spread(writer, fake, period=1.0) is False  # its own 60 are written
    assert len(writer.pending) == 10
