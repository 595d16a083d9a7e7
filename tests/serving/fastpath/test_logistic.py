"""Logistic regression (multinomial and binary) on Iris's shape: equal to predict_proba to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.serving.fastpath import (
    LogisticFastPath,
    ScalerPreprocessor,
    compile_fast_path,
)
from petalflow.serving.fastpath.logistic import _row_reduce
from tests.serving.fastpath.conftest import TOLERANCE
from tests.serving.fastpath.iris import (
    fit_iris,
    hand_logistic,
    max_diff,
    random_rows,
)


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0, 1e4])
def test_logistic_fast_path_matches_pipeline_on_iris_and_random_rows(iris, C: float) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(C=C, max_iter=10_000))
    fast = compile_fast_path(pipeline)
    assert isinstance(fast, LogisticFastPath)
    assert fast.classes == ["setosa", "versicolor", "virginica"]
    for X in (iris[0].to_numpy(), random_rows(3000, seed=1)):
        batch, rows = max_diff(fast, pipeline, X)
        assert batch <= TOLERANCE
        assert rows <= TOLERANCE


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
    for rows in (X[two].to_numpy(), random_rows(3000, seed=5)):
        batch, single = max_diff(fast, pipeline, rows)
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
    fast = hand_logistic()
    expected = _softmax(scores)
    assert fast.classes == ["0", "1", "2"]
    assert fast.predict_one(row) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    batch = fast.predict_many(np.array([row, row]))
    assert batch.shape == (2, 3)
    assert batch.tolist() == [pytest.approx(expected, rel=1e-12, abs=1e-300)] * 2
    assert np.isfinite(batch).all()


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
        hand_logistic().predict_many(X)


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
        hand_logistic().predict_one(row)


def test_logistic_fast_path_batch_rows_do_not_share_a_maximum() -> None:
    fast = hand_logistic()
    rows = [[2001.0, 2.0], [-1999.0, 2.0]]
    batch = fast.predict_many(np.array(rows))
    assert np.isfinite(batch).all()
    for got, row in zip(batch.tolist(), rows, strict=True):
        assert got == pytest.approx(fast.predict_one(row), rel=1e-12, abs=1e-300)


# 3-7: column by column (two classes take the binary branch); 8 and 12: numpy's reduce.
@pytest.mark.parametrize("k", [3, 4, 5, 7, 8, 12])
def test_row_reduce_gives_numpys_reductions_bit_for_bit(k: int) -> None:
    scores = np.random.default_rng(k).normal(scale=30.0, size=(4000, k))
    assert np.array_equal(_row_reduce(np.maximum, scores), scores.max(axis=1, keepdims=True))
    positive = np.exp(scores - scores.max(axis=1, keepdims=True))
    assert np.array_equal(_row_reduce(np.add, positive), positive.sum(axis=1, keepdims=True))


def test_row_reduce_sums_a_few_classes_left_to_right() -> None:
    # 1 + 1e-16 + 1e-16: left to right each tiny term is lost (1.0); paired first, they
    # would add up to 1 + 2.2e-16. The columns go left to right, as numpy's short sums.
    terms = np.array([[1.0, 1e-16, 1e-16]])
    assert _row_reduce(np.add, terms)[0, 0] == 1.0 == terms.sum(axis=1)[0]
