"""The cyclic garbage collector around a command's imports.

Importing scikit-learn, pandas, MLflow, skops or matplotlib creates hundreds of thousands
of objects that live until the process exits. With the collector on, every full collection during
the imports walks all of them again; frozen (CPython's permanent generation) once the
imports are done, they are skipped by every later collection, and a forked child does
not copy the pages a collection would write to.

A frozen object is never collected, so what is already garbage is collected first: a
data set's leftovers in a reference cycle would otherwise stay in memory until exit.
That collection is cheap where the entry points call this: at start-up, or when
everything older is frozen already.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def imports_frozen() -> Iterator[None]:
    """Collect the garbage there is, run the block (a command's imports) with the
    collector off, then freeze every object alive, and turn the collector back on unless
    it was off before."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
