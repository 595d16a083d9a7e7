"""Compiling, verifying and refusing fast paths of Iris's shape (the reasons logged)."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from petalflow.core.contract import numeric_contract
from petalflow.serving.fastpath import (
    ForestFastPath,
    LogisticFastPath,
    build_verified_fast_path,
    check_fast_path,
    compile_fast_path,
    verification_inputs,
    verify,
)
from petalflow.training.config import TrainConfig
from petalflow.training.pipeline import build_pipeline
from tests.serving.fastpath.conftest import TOLERANCE
from tests.serving.fastpath.iris import (
    CONTRACT,
    NAMES,
    SMALL_CONTRACT,
    NaNBatch,
    SkewedRow,
    fit_iris,
)


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
    pipeline = fit_iris(iris, *steps)
    assert compile_fast_path(pipeline) is None
    assert build_verified_fast_path(pipeline, CONTRACT) is None


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_check_fast_path_refuses_tampered_parameters(iris, model: str, caplog) -> None:
    classifier = (
        LogisticRegression(max_iter=1000)
        if model == "logreg"
        else RandomForestClassifier(n_estimators=20, random_state=0)
    )
    pipeline = fit_iris(iris, StandardScaler(), classifier)
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


@pytest.mark.parametrize("broken", [SkewedRow, NaNBatch])
def test_check_fast_path_refuses_a_wrong_row_path_or_nan(iris, broken: type) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    fast = broken(good.classes, good.pre, good.coef, good.intercept)
    assert check_fast_path(fast, pipeline, CONTRACT) is None


def test_check_fast_path_refuses_a_different_class_order(iris) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    fast.classes = fast.classes[::-1]
    assert check_fast_path(fast, pipeline, CONTRACT) is None


def test_build_verified_fast_path_refuses_other_feature_names(iris, caplog) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    with caplog.at_level(logging.WARNING, logger="petalflow.serving.fastpath"):
        reversed_names = numeric_contract("iris", NAMES[::-1], CONTRACT.classes, "species")
        assert build_verified_fast_path(pipeline, reversed_names) is None
    assert "features" in caplog.text


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
            fit_iris(iris, MinMaxScaler(), LogisticRegression()),
            "no fast path: the first step is MinMaxScaler, not StandardScaler or ColumnTransformer",
        ),
        (
            fit_iris(iris, StandardScaler(), KNeighborsClassifier()),
            "no fast path: the classifier is KNeighborsClassifier",
        ),
        (fit_iris(iris, LogisticRegression()), "no fast path: not a two-step Pipeline"),
        (
            fit_iris(iris, StandardScaler(), PCA(2), LogisticRegression()),
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
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    del pipeline.steps[1][1].coef_
    message = _reason(pipeline, caplog)
    assert re.fullmatch(r"fast path refused: compiling failed: AttributeError: .*coef_.*", message)


def test_check_fast_path_logs_the_verified_difference_and_input_count(iris, caplog) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    with caplog.at_level(logging.INFO, logger="petalflow.serving.fastpath"):
        assert check_fast_path(fast, pipeline, SMALL_CONTRACT) is fast
    (message,) = _messages(caplog)
    pattern = r"fast path \(logreg\) verified: max \|fast - sklearn\| = \S+ over 2015 inputs"
    assert re.fullmatch(pattern, message)


def test_check_fast_path_tolerance_is_inclusive(iris, caplog) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    fast = SkewedRow(good.classes, good.pre, good.coef, good.intercept)
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
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
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
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = build_verified_fast_path(pipeline, SMALL_CONTRACT, 0.5, 7)
    assert isinstance(fast, LogisticFastPath)
    default = build_verified_fast_path(pipeline, SMALL_CONTRACT)
    assert seen == [
        (fast, pipeline, SMALL_CONTRACT, 0.5, 7),
        (default, pipeline, SMALL_CONTRACT, 1e-12, 0),
    ]


def test_build_verified_fast_path_logs_the_feature_mismatch(iris, caplog) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
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
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    good = compile_fast_path(pipeline)
    assert isinstance(good, LogisticFastPath)
    X = iris[0].to_numpy()
    assert verify(good, pipeline, X) <= TOLERANCE
    assert verify(good, pipeline, X, CONTRACT) <= TOLERANCE
    skewed = SkewedRow(good.classes, good.pre, good.coef, good.intercept)
    assert verify(skewed, pipeline, X) == pytest.approx(1e-9, rel=1e-3)
    assert verify(skewed, pipeline, X[:1]) == pytest.approx(1e-9, rel=1e-3)
    assert (
        verify(NaNBatch(good.classes, good.pre, good.coef, good.intercept), pipeline, X) == np.inf
    )


def test_verify_is_infinite_for_other_classes_or_shapes(iris) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
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


def test_check_fast_path_draws_inputs_with_the_given_seed(iris, monkeypatch) -> None:
    from petalflow.serving.fastpath import verification

    seeds: list[int] = []
    real = verification.verification_inputs
    monkeypatch.setattr(
        verification,
        "verification_inputs",
        lambda pipeline, contract, seed: seeds.append(seed) or real(pipeline, contract, seed),
    )
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert check_fast_path(fast, pipeline, SMALL_CONTRACT) is fast  # type: ignore[arg-type]
    assert check_fast_path(fast, pipeline, SMALL_CONTRACT, seed=3) is fast  # type: ignore[arg-type]
    assert seeds == [0, 3]


def test_check_fast_path_gives_the_pipeline_the_contract_feature_names(iris) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
    fast = compile_fast_path(pipeline)
    assert fast is not None
    reordered = numeric_contract("iris", NAMES[::-1], CONTRACT.classes, "species")
    assert check_fast_path(fast, pipeline, reordered) is None


def test_verify_names_the_columns_for_the_pipeline(iris) -> None:
    pipeline = fit_iris(iris, StandardScaler(), LogisticRegression(max_iter=1000))
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
