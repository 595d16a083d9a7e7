"""imports_frozen: the collector is off inside the block, and what the block made is frozen.

tests/conftest.py unfreezes and turns the collector on after each test."""

from __future__ import annotations

import gc
import weakref

import pytest

from petalflow.core.collector import imports_frozen


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def test_imports_frozen_turns_the_collector_off_inside_and_back_on_after() -> None:
    gc.enable()
    with imports_frozen():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_imports_frozen_freezes_what_the_block_made() -> None:
    with imports_frozen():
        ref = weakref.ref(Node())
    gc.collect()
    assert ref() is not None  # frozen: no collection looks at it
    gc.unfreeze()
    gc.collect()
    assert ref() is None


def test_imports_frozen_collects_the_garbage_made_before_it_instead_of_freezing_it() -> None:
    gc.disable()  # so that no automatic collection frees it before the block
    ref = weakref.ref(Node())  # garbage now, in a cycle: only a collection frees it
    with imports_frozen():
        pass
    assert ref() is None


def test_imports_frozen_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    with imports_frozen():
        pass
    assert not gc.isenabled()


def test_imports_frozen_turns_the_collector_back_on_when_the_block_raises() -> None:
    gc.enable()
    with pytest.raises(ImportError, match="no module"), imports_frozen():
        raise ImportError("no module named nowhere")
    assert gc.isenabled()
