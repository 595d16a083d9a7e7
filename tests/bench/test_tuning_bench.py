"""bench/tuning.py runs both sides on the same search and counts what each logged."""

from __future__ import annotations

import pytest

from bench.tuning import compare

pytestmark = pytest.mark.e2e


def test_tuning_bench_runs_both_sides_and_counts_every_trial() -> None:
    ours, theirs, n_ours, n_theirs = compare("iris", trials=3, cv_folds=2)
    assert (n_ours, n_theirs) == (3, 3)
    assert ours > 0 and theirs > 0
