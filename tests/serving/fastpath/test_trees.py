"""The walking forest (forests too large for lookup tables): exact, or refused."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.serving.fastpath import (
    ScalerPreprocessor,
    WalkingForestFastPath,
    build_verified_fast_path,
    verification_inputs,
)
from petalflow.serving.fastpath import forest as forest_module
from petalflow.serving.fastpath import trees as trees_module
from petalflow.serving.fastpath.trees import compile_walk
from petalflow.training.data import load_dataset
from tests.serving.fastpath.conftest import TOLERANCE
from tests.serving.fastpath.iris import NAMES, SMALL_CONTRACT, fit_iris

IRIS = load_dataset()


def _iris_forest(**params: object) -> Pipeline:
    forest = RandomForestClassifier(random_state=0, **params)  # type: ignore[arg-type]
    return fit_iris(IRIS, StandardScaler(), forest)


def _walk(pipeline: Pipeline) -> WalkingForestFastPath:
    scaler = pipeline.steps[0][1]
    return compile_walk(pipeline.steps[1][1], ScalerPreprocessor(scaler.mean_, scaler.scale_))


@pytest.mark.parametrize(
    ("n_estimators", "max_depth"), [(1, 1), (1, None), (7, 3), (60, None), (200, None)]
)
def test_walking_forest_matches_sklearn_on_random_and_split_rows(
    n_estimators: int, max_depth: int | None
) -> None:
    pipeline = _iris_forest(n_estimators=n_estimators, max_depth=max_depth)
    fast = _walk(pipeline)
    assert fast.n_trees == n_estimators
    X = verification_inputs(pipeline, SMALL_CONTRACT)  # random rows, and rows at float32 splits
    X = np.concatenate([X, 100.0 - np.random.default_rng(1).uniform(0, 100, size=(2500, 4))])
    expected = pipeline.predict_proba(pd.DataFrame(X, columns=NAMES))
    assert np.abs(fast.predict_many(X) - expected).max() <= TOLERANCE  # over several chunks
    singles = np.array([fast.predict_one(row) for row in X[::3].tolist()])
    assert np.abs(singles - expected[::3]).max() <= TOLERANCE


def test_walking_forest_agrees_with_the_lookup_tables_bit_for_bit() -> None:
    pipeline = _iris_forest(n_estimators=30)
    walk, tables = _walk(pipeline), build_verified_fast_path(pipeline, SMALL_CONTRACT)
    assert tables is not None
    assert not isinstance(tables, WalkingForestFastPath)
    X = verification_inputs(pipeline, SMALL_CONTRACT)
    assert np.array_equal(walk.predict_many(X), tables.predict_many(X))
    for row in X[::11].tolist():
        assert walk.predict_one(row) == tables.predict_one(row)


@pytest.mark.parametrize("path", ["many", "one"])
def test_walking_forest_rejects_bad_rows(path: str) -> None:
    fast = _walk(_iris_forest(n_estimators=3))
    row = [5.0, 3.0, 1e300, 1.0]  # finite in float64, inf in float32 once scaled
    with pytest.raises(ValueError, match=r"^the fast path needs finite inputs \(after"):
        fast.predict_many(np.array([row, row])) if path == "many" else fast.predict_one(row)
    with pytest.raises(ValueError, match="expected"):
        fast.predict_many(np.ones((2, 3))) if path == "many" else fast.predict_one([1.0])


def test_build_verified_fast_path_walks_a_forest_too_large_for_tables(
    fitted, monkeypatch, caplog
) -> None:
    """train.py's default forest on the generated table: 200 deep trees over 5 numbers."""
    case = fitted["table-rf"]
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        fast = build_verified_fast_path(case.pipeline, case.contract)
    assert isinstance(fast, WalkingForestFastPath)
    limit = forest_module.MAX_FOREST_CELLS
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        f"the forest needs over {limit} table cells: the fast path walks its trees instead"
    )
    assert messages[1].startswith("fast path (rf) verified: max |fast - sklearn| = 0 over ")
    n_nodes = sum(e.tree_.node_count for e in case.pipeline.steps[1][1].estimators_)
    assert len(fast.feature) == n_nodes
    monkeypatch.setattr(trees_module, "MAX_WALK_NODES", n_nodes - 1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        assert build_verified_fast_path(case.pipeline, case.contract) is None
    assert [r.getMessage() for r in caplog.records][-1] == (
        f"no fast path: the forest has over {n_nodes - 1} nodes"
    )


def test_walking_forest_verified_in_a_child_comes_back_whole(fitted) -> None:
    # The server verifies a fast path in a forked child and takes it back pickled: the
    # walk's memoryviews do not pickle, and every forest too large for tables (train.py's
    # default on many numbers) was left to scikit-learn.
    from petalflow.core.forked import Forked

    case = fitted["table-rf"]
    with Forked(lambda _send: build_verified_fast_path(case.pipeline, case.contract)) as child:
        for _ in child.messages(60):
            pass
        fast = child.result()
    assert isinstance(fast, WalkingForestFastPath)
    X = verification_inputs(case.pipeline, case.contract, seed=5)[:300]
    expected = build_verified_fast_path(case.pipeline, case.contract)
    assert expected is not None
    assert np.array_equal(fast.predict_many(X), expected.predict_many(X))
    assert [fast.predict_one(row) for row in X[:20]] == [expected.predict_one(r) for r in X[:20]]
