"""The NumPy fast path: equal to pipeline.predict_proba to 1e-12, or refused."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from petalflow.core.contract import numeric_contract
from petalflow.serving.fastpath import (
    FastPath,
    ForestFastPath,
    LogisticFastPath,
    build_verified_fast_path,
    check_fast_path,
    compile_fast_path,
    verification_inputs,
    verify,
)
from petalflow.training.config import TrainConfig
from petalflow.training.data import FEATURE_NAMES, load_dataset
from petalflow.training.pipeline import build_pipeline

TOLERANCE = 1e-12
NAMES = list(FEATURE_NAMES)
CONTRACT = numeric_contract(
    "iris",
    NAMES,
    ["setosa", "versicolor", "virginica"],
    "species",
    {"gt": 0, "le": 100},
    verification_rows=load_dataset()[0].to_numpy().tolist(),
)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    return load_dataset()


def _fit(iris: tuple[pd.DataFrame, pd.Series], *steps: object) -> Pipeline:
    X, y = iris
    return Pipeline([(f"step{i}", step) for i, step in enumerate(steps)]).fit(X, y)


def _random_rows(n: int, seed: int) -> np.ndarray:
    """Uniform in (0, 100], the range the API accepts."""
    return 100.0 - np.random.default_rng(seed).uniform(0.0, 100.0, size=(n, len(NAMES)))


def _max_diff(fast: FastPath, pipeline: Pipeline, X: np.ndarray) -> tuple[float, float]:
    """(batch, row-by-row) max |fast - pipeline.predict_proba|."""
    expected = pipeline.predict_proba(pd.DataFrame(X, columns=NAMES))
    rows = np.array([fast.predict_one(row) for row in X.tolist()])
    return float(np.abs(fast.predict_proba(X) - expected).max()), float(
        np.abs(rows - expected).max()
    )


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0, 1e4])
def test_logistic_fast_path_matches_pipeline_on_iris_and_random_rows(iris, C: float) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(C=C, max_iter=10_000))
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, LogisticFastPath)
    assert fast.classes == ["setosa", "versicolor", "virginica"]
    for X in (iris[0].to_numpy(), _random_rows(3000, seed=1)):
        batch, rows = _max_diff(fast, pipeline, X)
        assert batch <= TOLERANCE
        assert rows <= TOLERANCE


@pytest.mark.parametrize(
    ("n_estimators", "max_depth"), [(1, None), (10, 2), (25, 5), (50, None), (200, None)]
)
def test_forest_fast_path_matches_pipeline_on_iris_random_and_split_rows(
    iris, n_estimators: int, max_depth: int | None
) -> None:
    forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=3)
    pipeline = _fit(iris, StandardScaler(), forest)
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, ForestFastPath)
    assert fast.n_trees == n_estimators
    near_splits = verification_inputs(pipeline, CONTRACT)[150 + 2000 :]
    assert len(near_splits) > 0
    for X in (iris[0].to_numpy(), _random_rows(3000, seed=2), near_splits):
        batch, rows = _max_diff(fast, pipeline, X)
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
    pipeline = _fit(iris, StandardScaler(), RandomForestClassifier(n_estimators=30, random_state=0))
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
    batch, single = _max_diff(compile_fast_path(pipeline), pipeline, np.array(rows))
    assert batch <= TOLERANCE
    assert single <= TOLERANCE


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_build_verified_fast_path_accepts_petalflow_pipelines(iris, model: str, caplog) -> None:
    config = TrainConfig(
        seed=42,
        test_size=0.2,
        model=model,
        C=1.0,
        max_iter=200,
        n_estimators=100,
        max_depth=None,
        artifacts_dir="artifacts",
        experiment_name="x",
        register_model=None,
        alias=None,
    )
    pipeline = build_pipeline(config).fit(*iris)
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        fast = build_verified_fast_path(pipeline, CONTRACT)
    assert fast is not None
    assert fast.kind == model
    assert "verified" in caplog.text
    assert verify(fast, pipeline, iris[0].to_numpy()) <= TOLERANCE


@pytest.mark.parametrize(
    "steps",
    [
        [StandardScaler(), KNeighborsClassifier()],
        [StandardScaler(), ExtraTreesClassifier(n_estimators=5, random_state=0)],
        [MinMaxScaler(), LogisticRegression(max_iter=1000)],
        [StandardScaler(), PCA(n_components=3), LogisticRegression(max_iter=1000)],
        [LogisticRegression(max_iter=1000)],
    ],
    ids=["knn", "extra-trees", "minmax-scaler", "extra-step", "no-scaler"],
)
def test_compile_fast_path_returns_none_for_unsupported_pipelines(iris, steps: list) -> None:
    pipeline = _fit(iris, *steps)
    assert compile_fast_path(pipeline) is None
    assert build_verified_fast_path(pipeline, CONTRACT) is None


def test_compile_fast_path_returns_none_for_binary_logistic_regression(iris) -> None:
    X, y = iris
    two = y != "setosa"
    pipeline = Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(X[two], y[two])
    assert compile_fast_path(pipeline) is None


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_check_fast_path_refuses_tampered_parameters(iris, model: str, caplog) -> None:
    classifier = (
        LogisticRegression(max_iter=1000)
        if model == "logreg"
        else RandomForestClassifier(n_estimators=20, random_state=0)
    )
    pipeline = _fit(iris, StandardScaler(), classifier)
    fast = compile_fast_path(pipeline)
    assert check_fast_path(fast, pipeline, CONTRACT) is fast
    if isinstance(fast, LogisticFastPath):
        fast.coef[1, 2] += 1e-6
    else:
        assert isinstance(fast, ForestFastPath)
        fast.table[:, 0] *= 1.0 + 1e-9
    with caplog.at_level(logging.WARNING, logger="petalflow.serving.fastpath"):
        assert check_fast_path(fast, pipeline, CONTRACT) is None
    assert "fast path refused" in caplog.text
    assert verify(fast, pipeline, iris[0].to_numpy()) > TOLERANCE


class _SkewedRow(LogisticFastPath):
    """A fast path whose single-row method is off by 1e-9."""

    def predict_one(self, row: Sequence[float]) -> list[float]:
        first, *rest = super().predict_one(row)
        return [first + 1e-9, *rest]


class _NaNBatch(LogisticFastPath):
    """A fast path whose batch method returns NaN."""

    def predict_many(self, X: np.ndarray) -> np.ndarray:
        return np.full_like(super().predict_many(X), np.nan)


@pytest.mark.parametrize("broken", [_SkewedRow, _NaNBatch])
def test_check_fast_path_refuses_a_wrong_row_path_or_nan(iris, broken: type) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    fast = broken(good.classes, good.mean, good.scale, good.coef, good.intercept)
    assert check_fast_path(fast, pipeline, CONTRACT) is None


def test_check_fast_path_refuses_a_different_class_order(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    fast.classes = fast.classes[::-1]
    assert check_fast_path(fast, pipeline, CONTRACT) is None


def test_build_verified_fast_path_refuses_other_feature_names(iris, caplog) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    with caplog.at_level(logging.WARNING, logger="petalflow.serving.fastpath"):
        reversed_names = numeric_contract("iris", NAMES[::-1], CONTRACT.classes, "species")
        assert build_verified_fast_path(pipeline, reversed_names) is None
    assert "features" in caplog.text


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_fast_path_rejects_bad_shapes_and_non_finite_rows(iris, model: str) -> None:
    classifier = (
        LogisticRegression(max_iter=1000)
        if model == "logreg"
        else RandomForestClassifier(n_estimators=5)
    )
    fast = compile_fast_path(_fit(iris, StandardScaler(), classifier))
    assert fast is not None
    for X in (np.ones((2, 3)), np.ones(4), np.array([[1.0, 2.0, np.nan, 1.0]])):
        with pytest.raises(ValueError):
            fast.predict_proba(X)
    for row in ([1.0, 2.0, 3.0], [1.0, 2.0, float("inf"), 1.0]):
        with pytest.raises(ValueError):
            fast.predict_one(row)
