"""bench/tuning.py runs both sides on the same search and counts what each logged."""

from __future__ import annotations

import pytest

from bench.tuning import compare

pytestmark = pytest.mark.e2e


def test_tuning_bench_runs_both_sides_in_both_orders_and_counts_every_trial() -> None:
    ours, theirs, n_ours, n_theirs = compare("iris", trials=3, cv_folds=2, rounds=2)
    assert (n_ours, n_theirs) == (3, 3)
    assert len(ours) == len(theirs) == 2
    assert min(ours) > 0 and min(theirs) > 0
