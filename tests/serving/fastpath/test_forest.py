"""Random forests as lookup tables on Iris's shape: equal to predict_proba to 1e-12, float32 and all."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.serving.fastpath import (
    ForestFastPath,
    WalkingForestFastPath,
    build_verified_fast_path,
    compile_fast_path,
    verification_inputs,
)
from tests.serving.fastpath.conftest import TOLERANCE
from tests.serving.fastpath.iris import (
    CONTRACT,
    NAMES,
    SMALL_CONTRACT,
    fit_iris,
    max_diff,
    random_rows,
)


@pytest.mark.parametrize(
    ("n_estimators", "max_depth"), [(1, None), (10, 2), (25, 5), (50, None), (200, None)]
)
def test_forest_fast_path_matches_pipeline_on_iris_random_and_split_rows(
    iris, n_estimators: int, max_depth: int | None
) -> None:
    forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=3)
    pipeline = fit_iris(iris, StandardScaler(), forest)
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, ForestFastPath)
    assert fast.n_trees == n_estimators
    near_splits = verification_inputs(pipeline, CONTRACT)[150 + 2000 :]
    assert len(near_splits) > 0
    for X in (iris[0].to_numpy(), random_rows(3000, seed=2), near_splits):
        batch, rows = max_diff(fast, pipeline, X)
        assert batch <= TOLERANCE
        assert rows <= TOLERANCE


def _leaf_value(tree: Any, z: np.ndarray) -> np.ndarray:
    """One tree's value row for the scaled row ``z``, comparing in z's own dtype."""
    node = 0
    while tree.children_left[node] >= 0:
        go_left = z[tree.feature[node]] <= tree.threshold[node]
        node = (tree.children_left if go_left else tree.children_right)[node]
    return np.asarray(tree.value[node, 0])


def test_forest_fast_path_compares_float32_inputs_like_sklearn(iris) -> None:
    """Rows whose float32 cast falls on the other side of a split than their float64 value."""
    pipeline = fit_iris(
        iris, StandardScaler(), RandomForestClassifier(n_estimators=30, random_state=0)
    )
    scaler, forest = pipeline.steps[0][1], pipeline.steps[1][1]
    rows, flipped = [], 0
    for tree in (e.tree_ for e in forest.estimators_):
        for node in np.flatnonzero(tree.feature >= 0):
            f, t = tree.feature[node], tree.threshold[node]
            low = np.float32(t) if np.float32(t) <= t else np.nextafter(np.float32(t), -np.inf)
            mid = (float(low) + float(np.nextafter(low, np.float32(np.inf)))) / 2
            z = (t + mid) / 2  # between t and the float32 rounding boundary
            for row in iris[0].to_numpy()[::15]:
                x = row.copy()
                x[f] = z * scaler.scale_[f] + scaler.mean_[f]
                scaled = (x - scaler.mean_) / scaler.scale_
                if (scaled[f] <= t) != (np.float32(scaled[f]) <= t):
                    rows.append(x)
                    v64, v32 = _leaf_value(tree, scaled), _leaf_value(tree, scaled.astype("f4"))
                    flipped += int(not np.array_equal(v64, v32))
    assert flipped > 0, "no row reaches another leaf in float32 than in float64"
    batch, single = max_diff(compile_fast_path(pipeline), pipeline, np.array(rows))
    assert batch <= TOLERANCE
    assert single <= TOLERANCE


@pytest.mark.parametrize(("n_estimators", "max_depth"), [(1, 1), (1, None), (4, 3), (7, None)])
def test_forest_fast_path_small_forests_match_sklearn(
    iris, n_estimators: int, max_depth: int | None
) -> None:
    forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=5)
    pipeline = fit_iris(iris, StandardScaler(), forest)
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, ForestFastPath)
    assert fast.kind == "rf"
    assert fast.n_trees == n_estimators
    assert fast.classes == ["setosa", "versicolor", "virginica"]
    X = verification_inputs(pipeline, SMALL_CONTRACT)  # 2,000+ rows: several chunks
    expected = pipeline.predict_proba(pd.DataFrame(X, columns=NAMES))
    assert np.abs(fast.predict_many(X) - expected).max() <= TOLERANCE
    singles = np.array([fast.predict_one(row) for row in X[::7].tolist()])
    assert np.abs(singles - expected[::7]).max() <= TOLERANCE


def test_forest_fast_path_table_size_limit(iris, monkeypatch, caplog) -> None:
    from petalflow.serving.fastpath import forest as forest_module

    pipeline = fit_iris(
        iris, StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)
    )
    cells = compile_fast_path(pipeline).table.shape[0]  # type: ignore[union-attr]
    trees = [e.tree_ for e in pipeline.steps[1][1].estimators_]
    own = [[len(np.unique(t.threshold[t.feature == f])) + 1 for f in range(4)] for t in trees]
    assert cells == sum(int(np.prod(dims)) for dims in own)  # one cell per threshold rank tuple
    monkeypatch.setattr(forest_module, "MAX_FOREST_CELLS", cells)
    assert isinstance(compile_fast_path(pipeline), ForestFastPath)
    monkeypatch.setattr(forest_module, "MAX_FOREST_CELLS", cells - 1)
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        assert isinstance(compile_fast_path(pipeline), WalkingForestFastPath)
        assert isinstance(build_verified_fast_path(pipeline, SMALL_CONTRACT), WalkingForestFastPath)
    messages = [r.getMessage() for r in caplog.records]
    walks = f"the forest needs over {cells - 1} table cells: the fast path walks its trees instead"
    assert messages[:2] == [walks, walks]
    assert messages[2].startswith("fast path (rf) verified: max |fast - sklearn| = 0 over ")


@pytest.mark.parametrize("path", ["many", "one"])
def test_forest_fast_path_rejects_rows_infinite_after_the_float32_cast(iris, path: str) -> None:
    pipeline = fit_iris(
        iris, StandardScaler(), RandomForestClassifier(n_estimators=2, random_state=0)
    )
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, ForestFastPath)
    row = [5.0, 3.0, 1e300, 1.0]  # finite in float64, inf in float32 once scaled
    with pytest.raises(
        ValueError, match=r"^the fast path needs finite inputs \(after the float32 cast\)$"
    ):
        if path == "many":
            fast.predict_many(np.array([row, row]))
        else:
            fast.predict_one(row)
    with pytest.raises(ValueError, match="expected 4 values, got 3"):
        fast.predict_one([1.0, 2.0, 3.0])


@pytest.mark.parametrize("n_estimators", [1, 6])
def test_forest_fast_path_handles_a_single_feature(iris, n_estimators: int) -> None:
    X, y = iris
    one = X[["petal_length"]]
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=1)
    pipeline = Pipeline([("s", StandardScaler()), ("c", forest)]).fit(one, y)
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, ForestFastPath)
    assert fast.n_trees == n_estimators
    rows = np.concatenate([one.to_numpy(), np.linspace(-5, 15, 401)[:, None]])
    expected = pipeline.predict_proba(pd.DataFrame(rows, columns=["petal_length"]))
    assert np.abs(fast.predict_many(rows) - expected).max() <= TOLERANCE
    singles = np.array([fast.predict_one(row) for row in rows.tolist()])
    assert np.abs(singles - expected).max() <= TOLERANCE
