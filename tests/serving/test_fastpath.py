"""The NumPy fast path: equal to pipeline.predict_proba to 1e-12, or refused."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
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
    ScalerPreprocessor,
    WalkingForestFastPath,
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
        dataset="iris",
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


@pytest.mark.parametrize("C", [0.01, 1.0, 1e4])
def test_logistic_fast_path_matches_binary_pipelines(iris, C: float) -> None:
    X, y = iris
    two = y != "setosa"
    classifier = LogisticRegression(C=C, max_iter=10_000)
    pipeline = Pipeline([("s", StandardScaler()), ("c", classifier)]).fit(X[two], y[two])
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, LogisticFastPath)
    assert fast.binary
    assert fast.classes == ["versicolor", "virginica"]
    for rows in (X[two].to_numpy(), _random_rows(3000, seed=5)):
        batch, single = _max_diff(fast, pipeline, rows)
        assert batch <= TOLERANCE
        assert single <= TOLERANCE


@pytest.mark.parametrize("d", [0.0, 1.0, -2.0, 30.0, -30.0, 800.0, -800.0])
def test_logistic_fast_path_binary_is_expit_of_the_decision(d: float) -> None:
    """One decision d = x (mean 0, scale 1, weight 1): [1 - expit(d), expit(d)], as
    scipy's expit gives it; exp(800) overflows, and expit(-800) is 0."""
    pre = ScalerPreprocessor(np.zeros(1), np.ones(1))
    fast = LogisticFastPath(["no", "yes"], pre, np.ones((1, 1)), np.zeros(1))
    p = float(expit(d))
    expected = [1.0 - p, p]
    assert fast.predict_one([d]) == pytest.approx(expected, rel=0, abs=1e-16)
    batch = fast.predict_many(np.array([[d], [d]]))
    assert batch.tolist() == [pytest.approx(expected, rel=0, abs=1e-16)] * 2


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
    fast = broken(good.classes, good.pre, good.coef, good.intercept)
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


# Small, fast cases: hand-computed values and sklearn's predict_proba as oracles.

SMALL_CONTRACT = numeric_contract(
    "iris",
    NAMES,
    ["setosa", "versicolor", "virginica"],
    "species",
    {"gt": 0, "le": 100},
    verification_rows=load_dataset()[0].to_numpy()[::10].tolist(),
)


def _hand_logistic() -> LogisticFastPath:
    """z = (x - [1, 2]) / [2, 4]; scores = [z0, z1, z0 + z1] + [0, 1, -1]."""
    return LogisticFastPath(
        [0, 1, 2],
        ScalerPreprocessor(np.array([1.0, 2.0]), np.array([2.0, 4.0])),
        np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        np.array([0.0, 1.0, -1.0]),
    )


def _softmax(scores: list[float]) -> list[float]:
    exps = [np.exp(s - max(scores)) for s in scores]
    return [float(e / sum(exps)) for e in exps]


@pytest.mark.parametrize(
    ("row", "scores"),
    [
        ([3.0, 6.0], [1.0, 2.0, 1.0]),
        ([1.0, 2.0], [0.0, 1.0, -1.0]),
        ([-1.0, 10.0], [-1.0, 3.0, 0.0]),
        ([2001.0, 2.0], [1000.0, 1.0, 999.0]),
        ([-1999.0, 2.0], [-1000.0, 1.0, -1001.0]),
    ],
)
def test_logistic_fast_path_computes_the_softmax_by_hand(row: list, scores: list) -> None:
    fast = _hand_logistic()
    expected = _softmax(scores)
    assert fast.classes == ["0", "1", "2"]
    assert fast.predict_one(row) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    batch = fast.predict_many(np.array([row, row]))
    assert batch.shape == (2, 3)
    assert batch.tolist() == [pytest.approx(expected, rel=1e-12, abs=1e-300)] * 2
    assert np.isfinite(batch).all()


def test_fast_path_predict_proba_takes_predict_one_for_one_row_only() -> None:
    class Spy(LogisticFastPath):
        def predict_one(self, row: Sequence[float]) -> list[float]:
            return [float(len(row)), -1.0, -1.0]

        def predict_many(self, X: np.ndarray) -> np.ndarray:
            return np.full((len(X), 3), -2.0)

    good = _hand_logistic()
    spy = Spy(good.classes, good.pre, good.coef, good.intercept)
    one = spy.predict_proba(np.array([[1.0, 2.0]]))
    assert one.dtype == np.float64
    assert one.tolist() == [[2.0, -1.0, -1.0]]
    assert spy.predict_proba([[1, 2]]).tolist() == [[2.0, -1.0, -1.0]]
    assert spy.predict_proba(np.ones((2, 2))).tolist() == [[-2.0] * 3] * 2
    assert spy.predict_proba(np.ones((0, 2))).shape == (0, 3)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones((2, 3)), r"expected an \(n, 2\) array, got shape \(2, 3\)"),
        (np.ones(2), r"expected an \(n, 2\) array, got shape \(2,\)"),
        (np.ones((1, 2, 2)), r"expected an \(n, 2\) array, got shape \(1, 2, 2\)"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), "the fast path needs finite inputs$"),
        (np.array([[1.0, np.inf], [1.0, 2.0]]), "the fast path needs finite inputs$"),
    ],
)
def test_logistic_fast_path_predict_many_rejects_bad_rows(X: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _hand_logistic().predict_many(X)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ([1.0], "expected 2 values, got 1"),
        ([1.0, 2.0, 3.0], "expected 2 values, got 3"),
        ([1.0, float("nan")], "the fast path needs finite inputs$"),
        ([float("-inf"), 1.0], "the fast path needs finite inputs$"),
    ],
)
def test_logistic_fast_path_predict_one_rejects_bad_rows(row: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _hand_logistic().predict_one(row)


@pytest.mark.parametrize(
    ("with_mean", "with_std"), [(True, True), (False, True), (True, False), (False, False)]
)
@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_fast_path_honours_scaler_options(
    iris, with_mean: bool, with_std: bool, model: str
) -> None:
    classifier = (
        LogisticRegression(max_iter=1000)
        if model == "logreg"
        else RandomForestClassifier(n_estimators=3, random_state=0)
    )
    pipeline = _fit(iris, StandardScaler(with_mean=with_mean, with_std=with_std), classifier)
    fast = compile_fast_path(pipeline)
    assert fast is not None
    scaler = pipeline.steps[0][1]
    assert isinstance(fast.pre, ScalerPreprocessor)
    assert fast.pre.mean.tolist() == (scaler.mean_.tolist() if with_mean else [0.0] * 4)
    assert fast.pre.scale.tolist() == (scaler.scale_.tolist() if with_std else [1.0] * 4)
    X = np.concatenate([iris[0].to_numpy(), _random_rows(50, seed=4)])
    assert verify(fast, pipeline, X) <= TOLERANCE


@pytest.mark.parametrize(("n_estimators", "max_depth"), [(1, 1), (1, None), (4, 3), (7, None)])
def test_forest_fast_path_small_forests_match_sklearn(
    iris, n_estimators: int, max_depth: int | None
) -> None:
    forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=5)
    pipeline = _fit(iris, StandardScaler(), forest)
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

    pipeline = _fit(iris, StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0))
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
    pipeline = _fit(iris, StandardScaler(), RandomForestClassifier(n_estimators=2, random_state=0))
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


def _messages(caplog: Any) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def _reason(pipeline: Any, caplog: Any) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        assert build_verified_fast_path(pipeline, SMALL_CONTRACT) is None
    (message,) = _messages(caplog)
    return message


def test_build_verified_fast_path_logs_why_there_is_no_fast_path(iris, caplog) -> None:
    X, y = iris
    cases = [
        (
            _fit(iris, MinMaxScaler(), LogisticRegression()),
            "no fast path: the first step is MinMaxScaler, not StandardScaler or ColumnTransformer",
        ),
        (
            _fit(iris, StandardScaler(), KNeighborsClassifier()),
            "no fast path: the classifier is KNeighborsClassifier",
        ),
        (_fit(iris, LogisticRegression()), "no fast path: not a two-step Pipeline"),
        (
            _fit(iris, StandardScaler(), PCA(2), LogisticRegression()),
            "no fast path: not a two-step Pipeline",
        ),
    ]
    Y = np.column_stack([y == "setosa", y == "virginica"]).astype(int)
    multi = Pipeline([("s", StandardScaler()), ("c", RandomForestClassifier(n_estimators=2))])
    cases.append((multi.fit(X, Y), "no fast path: multi-output RandomForestClassifier"))
    for pipeline, reason in cases:
        assert compile_fast_path(pipeline) is None
        assert _reason(pipeline, caplog) == reason
    assert compile_fast_path(object()) is None


def test_build_verified_fast_path_refuses_when_compiling_fails(iris, caplog) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    del pipeline.steps[1][1].coef_
    message = _reason(pipeline, caplog)
    assert re.fullmatch(r"fast path refused: compiling failed: AttributeError: .*coef_.*", message)


def test_check_fast_path_logs_the_verified_difference_and_input_count(iris, caplog) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        assert check_fast_path(fast, pipeline, SMALL_CONTRACT) is fast
    (message,) = _messages(caplog)
    pattern = r"fast path \(logreg\) verified: max \|fast - sklearn\| = \S+ over 2015 inputs"
    assert re.fullmatch(pattern, message)


def test_check_fast_path_tolerance_is_inclusive(iris, caplog) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    fast = _SkewedRow(good.classes, good.pre, good.coef, good.intercept)
    X = verification_inputs(pipeline, SMALL_CONTRACT)
    diff = verify(fast, pipeline, X, SMALL_CONTRACT)
    assert 0.9e-9 <= diff <= 1.1e-9
    assert check_fast_path(fast, pipeline, SMALL_CONTRACT, tolerance=diff) is fast
    caplog.clear()  # the INFO line above is captured when another test set petalflow to INFO
    with caplog.at_level(logging.WARNING, logger="petalflow.serving.fastpath"):
        assert check_fast_path(fast, pipeline, SMALL_CONTRACT, tolerance=diff * 0.99) is None
    assert _messages(caplog) == [
        "fast path refused: max |fast - sklearn| = 1e-09 > tolerance 1e-09 over 2015 inputs"
    ]


def test_check_fast_path_refuses_when_verification_raises(iris, caplog) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    narrow = numeric_contract("iris", NAMES[:3], CONTRACT.classes, "species")
    with caplog.at_level(logging.WARNING, logger="petalflow.serving.fastpath"):
        assert check_fast_path(fast, pipeline, narrow) is None
    (message,) = _messages(caplog)
    assert re.fullmatch(
        r"fast path refused: verification failed: ValueError: .*feature names.*", message, re.S
    )


def test_build_verified_fast_path_passes_tolerance_and_seed(iris, monkeypatch) -> None:
    from petalflow.serving.fastpath import verification

    seen: list[tuple] = []
    monkeypatch.setattr(verification, "check_fast_path", lambda *args: seen.append(args) or args[0])
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = build_verified_fast_path(pipeline, SMALL_CONTRACT, 0.5, 7)
    assert isinstance(fast, LogisticFastPath)
    default = build_verified_fast_path(pipeline, SMALL_CONTRACT)
    assert seen == [
        (fast, pipeline, SMALL_CONTRACT, 0.5, 7),
        (default, pipeline, SMALL_CONTRACT, 1e-12, 0),
    ]


def test_build_verified_fast_path_logs_the_feature_mismatch(iris, caplog) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    other = numeric_contract("iris", [*NAMES[1:], NAMES[0]], CONTRACT.classes, "species")
    with caplog.at_level(logging.WARNING, logger="petalflow.serving.fastpath"):
        assert build_verified_fast_path(pipeline, other) is None
    assert _messages(caplog) == [
        f"fast path refused: the model's features are {NAMES}, not {other.feature_names}"
    ]


def test_build_verified_fast_path_accepts_a_pipeline_fitted_without_names(iris) -> None:
    X, y = iris
    pipeline = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=1000))])
    pipeline.fit(X.to_numpy(), y)
    assert isinstance(build_verified_fast_path(pipeline, SMALL_CONTRACT), LogisticFastPath)


def test_verify_measures_the_largest_difference(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    X = iris[0].to_numpy()
    assert verify(good, pipeline, X) <= TOLERANCE
    assert verify(good, pipeline, X, CONTRACT) <= TOLERANCE
    skewed = _SkewedRow(good.classes, good.pre, good.coef, good.intercept)
    assert verify(skewed, pipeline, X) == pytest.approx(1e-9, rel=1e-3)
    assert verify(skewed, pipeline, X[:1]) == pytest.approx(1e-9, rel=1e-3)
    assert (
        verify(_NaNBatch(good.classes, good.pre, good.coef, good.intercept), pipeline, X) == np.inf
    )


def test_verify_is_infinite_for_other_classes_or_shapes(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    X = iris[0].to_numpy()[:5]
    renamed = LogisticFastPath(["a", "b", "c"], good.pre, good.coef, good.intercept)
    assert verify(renamed, pipeline, X) == np.inf
    wider = LogisticFastPath(
        [*good.classes, "extra"],
        good.pre,
        np.vstack([good.coef, good.coef[:1]]),
        np.append(good.intercept, 0.0),
    )
    assert verify(wider, pipeline, X) == np.inf

    class OneRowOff(LogisticFastPath):
        def predict_one(self, row: Sequence[float]) -> list[float]:
            return [*super().predict_one(row), 0.0]

    odd = OneRowOff(good.classes, good.pre, good.coef, good.intercept)
    assert verify(odd, pipeline, X) == np.inf


@pytest.mark.parametrize(
    ("bounds", "rows", "low", "high"),
    [
        ({"gt": 0, "le": 100}, [[1.0], [3.0]], 0.0, 100.0),
        ({"ge": -2, "lt": 5}, [[1.0], [5.0]], -2.0, 5.0),
        ({}, [[0.0], [2.0]], -3.0, 5.0),  # std 1: 3 standard deviations past min and max
        ({"gt": 1}, [[0.0], [2.0]], 1.0, 5.0),
        ({"le": 1}, [[0.0], [2.0]], -3.0, 1.0),
        ({}, [[4.0], [4.0]], -96.0, 104.0),  # no spread: +-100
        ({}, [], -100.0, 100.0),
    ],
)
def test_verification_inputs_draws_rows_inside_the_bounds(
    bounds: dict, rows: list, low: float, high: float
) -> None:
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), ["x", "y", "x", "y"]
    pipeline = Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(X, y)
    contract = numeric_contract("d", ["a"], ["x", "y"], "t", bounds, verification_rows=rows)
    drawn = verification_inputs(pipeline, contract)
    assert drawn.shape == (len(rows) + 2000, 1)
    assert drawn[: len(rows)].tolist() == rows
    sample = drawn[len(rows) :, 0]
    assert low < sample.min() < low + 0.02 * (high - low)
    assert high - 0.02 * (high - low) < sample.max() <= high
    assert verification_inputs(pipeline, contract, seed=0).tolist() == drawn.tolist()
    assert verification_inputs(pipeline, contract, seed=1)[len(rows) :].tolist() != (
        sample[:, None].tolist()
    )


def test_verification_inputs_adds_rows_a_few_ulps_around_splits(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), RandomForestClassifier(n_estimators=1, random_state=0))
    scaler, tree = pipeline.steps[0][1], pipeline.steps[1][1].estimators_[0].tree_
    splits = {
        (int(f), float(t)) for f, t in zip(tree.feature, tree.threshold, strict=True) if f >= 0
    }
    base = np.array(SMALL_CONTRACT.verification_rows)
    near = verification_inputs(pipeline, SMALL_CONTRACT)[len(base) + 2000 :]
    assert len(near) == 18 * min(100, len(splits))
    groups = near.reshape(-1, 18, 4)
    seen = set()
    for group in groups:
        up_rows = [
            f
            for f in range(4)
            if group[6:12, f].tolist() == np.nextafter(group[:6, f], np.inf).tolist()
        ]
        assert len(up_rows) == 1
        f = up_rows[0]
        base_others = {tuple(r) for r in np.delete(base, f, axis=1).tolist()}
        assert all(tuple(r) in base_others for r in np.delete(group, f, axis=1).tolist())
        x = group[:6, f]
        assert group[6:12, f].tolist() == np.nextafter(x, np.inf).tolist()
        assert group[12:, f].tolist() == np.nextafter(x, -np.inf).tolist()
        z = (x - scaler.mean_[f]) / scaler.scale_[f]
        t = next(t for g, t in splits if g == f and abs(t - z[0]) <= 1e-12 * max(1, abs(t)))
        seen.add((f, t))
        t32 = float(np.float32(t))
        up = float(np.nextafter(np.float32(t), np.float32(np.inf)))
        down = float(np.nextafter(np.float32(t), np.float32(-np.inf)))
        expected = [t, t32, up, down, (t32 + up) / 2, (t32 + down) / 2]
        assert z.tolist() == pytest.approx(expected, rel=0, abs=1e-12)
    assert seen == splits


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


def test_check_fast_path_draws_inputs_with_the_given_seed(iris, monkeypatch) -> None:
    from petalflow.serving.fastpath import verification

    seeds: list[int] = []
    real = verification.verification_inputs
    monkeypatch.setattr(
        verification,
        "verification_inputs",
        lambda pipeline, contract, seed: seeds.append(seed) or real(pipeline, contract, seed),
    )
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert check_fast_path(fast, pipeline, SMALL_CONTRACT) is fast  # type: ignore[arg-type]
    assert check_fast_path(fast, pipeline, SMALL_CONTRACT, seed=3) is fast  # type: ignore[arg-type]
    assert seeds == [0, 3]


def test_check_fast_path_gives_the_pipeline_the_contract_feature_names(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    reordered = numeric_contract("iris", NAMES[::-1], CONTRACT.classes, "species")
    assert check_fast_path(fast, pipeline, reordered) is None


def test_verify_names_the_columns_for_the_pipeline(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    X = iris[0].to_numpy()[:10]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns when given unnamed columns
        assert verify(fast, pipeline, X) <= TOLERANCE
        assert verify(fast, pipeline, X, CONTRACT) <= TOLERANCE
    reversed_names = numeric_contract("iris", NAMES[::-1], CONTRACT.classes, "species")
    with pytest.raises(ValueError, match="feature names"):
        verify(fast, pipeline, X, reversed_names)
    unnamed = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=1000))])
    unnamed.fit(iris[0].to_numpy(), iris[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert verify(compile_fast_path(unnamed), unnamed, X) <= TOLERANCE  # type: ignore[arg-type]


def test_logistic_fast_path_batch_rows_do_not_share_a_maximum() -> None:
    fast = _hand_logistic()
    rows = [[2001.0, 2.0], [-1999.0, 2.0]]
    batch = fast.predict_many(np.array(rows))
    assert np.isfinite(batch).all()
    for got, row in zip(batch.tolist(), rows, strict=True):
        assert got == pytest.approx(fast.predict_one(row), rel=1e-12, abs=1e-300)


def test_verification_inputs_samples_at_most_100_splits_of_a_known_pipeline(iris) -> None:
    forest = RandomForestClassifier(n_estimators=20, random_state=0)
    pipeline = _fit(iris, StandardScaler(), forest)
    assert len(verification_inputs(pipeline, SMALL_CONTRACT)) == 15 + 2000 + 18 * 100
    # PCA's splits have no raw value to sit near: no split rows.
    pipeline = _fit(iris, StandardScaler(), PCA(n_components=4), forest)
    assert len(verification_inputs(pipeline, SMALL_CONTRACT)) == 15 + 2000


def test_verification_inputs_anchors_split_rows_on_random_rows_without_a_sample(iris) -> None:
    pipeline = _fit(iris, StandardScaler(), RandomForestClassifier(n_estimators=1, random_state=0))
    n_splits = int((pipeline.steps[1][1].estimators_[0].tree_.feature >= 0).sum())
    bare = numeric_contract("iris", NAMES, CONTRACT.classes, "species", {"gt": 0, "le": 100})
    drawn = verification_inputs(pipeline, bare)
    assert len(drawn) == 2000 + 18 * min(100, n_splits)
    assert ((drawn > 0) | (np.arange(len(drawn)) >= 2000)[:, None]).all()
