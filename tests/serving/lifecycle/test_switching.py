"""Quick switching: the GIL switch interval is lowered while any load runs, then restored."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from petalflow.serving.lifecycle.switching import LOADING_INTERVAL, QuickSwitching

BEFORE = 0.004  # a known interval to restore (not the default, so a reset to it shows)


def approx(value: object) -> object:
    """CPython keeps the switch interval in whole microseconds: 0.0001 reads back 9.9e-05."""
    return pytest.approx(value, rel=0.02)


@pytest.fixture(autouse=True)
def known_interval() -> Iterator[None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(BEFORE)
    yield
    sys.setswitchinterval(saved)


def test_quick_switching_lowers_the_interval_inside_and_restores_it() -> None:
    switching = QuickSwitching()
    with switching.during():
        assert sys.getswitchinterval() == approx(LOADING_INTERVAL)
    assert sys.getswitchinterval() == approx(BEFORE)
    assert LOADING_INTERVAL < BEFORE


def test_quick_switching_restores_the_interval_after_an_error() -> None:
    switching = QuickSwitching(0.001)
    with pytest.raises(RuntimeError, match="load failed"), switching.during():
        assert sys.getswitchinterval() == approx(0.001)
        raise RuntimeError("load failed")
    assert sys.getswitchinterval() == approx(BEFORE)


@pytest.mark.parametrize("first_out", ["first_in", "second_in"])
def test_quick_switching_restores_only_when_the_last_holder_leaves(first_out: str) -> None:
    switching = QuickSwitching()
    holders = {"first_in": ExitStack(), "second_in": ExitStack()}
    holders["first_in"].enter_context(switching.during())
    holders["second_in"].enter_context(switching.during())
    holders.pop(first_out).close()
    assert sys.getswitchinterval() == approx(LOADING_INTERVAL)
    holders.popitem()[1].close()
    assert sys.getswitchinterval() == approx(BEFORE)


def test_quick_switching_never_raises_an_interval_set_lower_already() -> None:
    sys.setswitchinterval(0.0001)
    with QuickSwitching(0.0002).during():
        assert sys.getswitchinterval() == approx(0.0001)
    assert sys.getswitchinterval() == approx(0.0001)


def test_quick_switching_holders_in_two_threads_end_at_the_original_interval() -> None:
    switching, inside, release = QuickSwitching(), threading.Barrier(2), threading.Event()
    seen: list[float] = []

    def load() -> None:
        with switching.during():
            inside.wait(timeout=30)
            seen.append(sys.getswitchinterval())
            release.wait(timeout=30)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30  # only against a hang
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert seen == approx([LOADING_INTERVAL, LOADING_INTERVAL])
    assert sys.getswitchinterval() == approx(BEFORE)


def test_quick_switching_leaves_an_interval_set_by_someone_else_during_the_load() -> None:
    with QuickSwitching().during():
        sys.setswitchinterval(0.003)  # an operator's choice, made while a model loads
    assert sys.getswitchinterval() == approx(0.003)


@pytest.mark.parametrize("interval", [0, -0.001])
def test_quick_switching_refuses_an_interval_that_is_not_positive(interval: float) -> None:
    with pytest.raises(ValueError, match="must be > 0 seconds"):
        QuickSwitching(interval)
