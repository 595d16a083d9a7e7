"""The pipelines training builds for tables with categories and gaps: verified and exact
(scikit-learn's predict_proba on RowCodec's frame is the oracle), or refused."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from petalflow.core.contract import ModelContract
from petalflow.serving.fastpath import (
    ColumnPreprocessor,
    ForestFastPath,
    LogisticFastPath,
    WalkingForestFastPath,
    build_verified_fast_path,
    check_fast_path,
    compile_fast_path,
    verification_inputs,
)
from petalflow.serving.fastpath.inputs import GAP_ROWS, RANDOM_ROWS
from petalflow.training import data
from tests.serving.fastpath.conftest import TOLERANCE, Fitted, fit

LOGGER = "petalflow.serving.fastpath"
CASES = ["penguins-logreg", "penguins-rf", "table-logreg", "table-rf", "table-rf-small"]


def _gap_and_category_rows(contract: ModelContract, n: int = 60, seed: int = 0) -> np.ndarray:
    """``n`` training rows with every category index of every category feature, then the
    same rows with a gap in every nullable feature."""
    rng = np.random.default_rng(seed)
    base = np.array(contract.verification_rows, dtype=float)
    rows = base[rng.choice(len(base), size=n, replace=False)]
    for j, feature in enumerate(contract.features):
        if feature.type == "category":
            rows[:, j] = np.arange(n) % len(feature.categories or [])
    gaps = rows.copy()
    gaps[:, [j for j, f in enumerate(contract.features) if f.nullable]] = np.nan
    return np.concatenate([rows, gaps])


@pytest.mark.parametrize("name", CASES)
def test_build_verified_fast_path_serves_tabular_pipelines(fitted, name: str, caplog) -> None:
    case = fitted[name]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        fast = build_verified_fast_path(case.pipeline, case.contract)
    assert fast is not None
    assert fast.kind == name.split("-")[1]
    walks = name == "table-rf"  # train.py's forest on the table: too large for tables
    assert isinstance(fast, WalkingForestFastPath) == walks
    assert isinstance(fast.pre, ColumnPreprocessor)
    assert fast.classes == case.contract.classes
    assert f"fast path ({fast.kind}) verified" in caplog.text


@pytest.mark.parametrize("name", CASES)
def test_fast_path_is_exact_with_gaps_and_every_category(fitted, name: str) -> None:
    case = fitted[name]
    fast = compile_fast_path(case.pipeline, case.contract)
    assert fast is not None
    X = _gap_and_category_rows(case.contract)
    expected = case.oracle(X)
    assert np.abs(fast.predict_many(X) - expected).max() <= TOLERANCE
    singles = np.array([fast.predict_one(row) for row in X.tolist()])
    assert np.abs(singles - expected).max() <= TOLERANCE
    assert np.abs(fast.predict_proba(X[:1]) - expected[:1]).max() <= TOLERANCE


def test_forest_fast_path_splits_on_one_hot_columns(fitted) -> None:
    """The case the category axes exist for: trees split on one-hot columns."""
    for name in ("penguins-rf", "table-rf-small"):
        fast = compile_fast_path(fitted[name].pipeline, fitted[name].contract)
        assert isinstance(fast, ForestFastPath)
        trees = [e.tree_ for e in fitted[name].pipeline.steps[1][1].estimators_]
        one_hot = {c for columns in fast.pre.slot_columns for c in columns if c >= 0}
        assert any(np.isin(t.feature, list(one_hot)).any() for t in trees)
        assert any(ranks.any() for ranks in fast.slot_ranks)


@pytest.mark.parametrize("name", ["table-logreg", "penguins-logreg"])
def test_verification_inputs_cover_gaps_every_category_and_bools(fitted, name: str) -> None:
    contract = fitted[name].contract
    X = verification_inputs(fitted[name].pipeline, contract)
    n_base = len(contract.verification_rows)
    n_random = RANDOM_ROWS
    assert len(X) == n_base + n_random + GAP_ROWS  # no forest: no split rows
    random, gaps = X[n_base : n_base + n_random], X[n_base + n_random :]
    for j, feature in enumerate(contract.features):
        column = random[:, j]
        present = column[~np.isnan(column)]
        if feature.nullable:
            assert 0.05 < np.isnan(column).mean() < 0.15, feature.name
            assert np.isnan(gaps[:, j]).all()
        else:
            assert not np.isnan(column).any()
            assert not np.isnan(gaps[:, j]).any()
        if feature.type == "category":
            assert set(present.tolist()) == set(map(float, range(len(feature.categories or []))))
        elif feature.type == "bool":
            assert set(present.tolist()) == {0.0, 1.0}
        for key, ok in (("ge", np.greater_equal), ("gt", np.greater)):
            if getattr(feature, key) is not None:
                assert ok(present, getattr(feature, key)).all()
        for key, ok in (("le", np.less_equal), ("lt", np.less)):
            if getattr(feature, key) is not None:
                assert ok(present, getattr(feature, key)).all()
    assert np.array_equal(X[:n_base], np.array(contract.verification_rows, dtype=float), True)


@pytest.mark.parametrize("name", ["table-rf", "table-rf-small", "penguins-rf"])
def test_verification_inputs_put_forest_split_rows_on_numbers_only(fitted, name: str) -> None:
    case = fitted[name]
    X = verification_inputs(case.pipeline, case.contract)
    start = len(case.contract.verification_rows) + RANDOM_ROWS + GAP_ROWS
    near = X[start:]
    assert len(near) == 18 * 100
    numbers = {j for j, f in enumerate(case.contract.features) if f.numeric}
    pre = compile_fast_path(case.pipeline, case.contract).pre  # type: ignore[union-attr]
    units = {n.feature: n for n in pre.numbers}
    for group in near.reshape(-1, 18, X.shape[1]):
        (j,) = [
            j
            for j in range(X.shape[1])
            if not np.isnan(group[:6, j]).any()
            and np.array_equal(group[6:12, j], np.nextafter(group[:6, j], np.inf))
        ]
        assert j in numbers
        z = (group[0, j] - units[j].mean) / units[j].scale
        trees = case.pipeline.steps[1][1].estimators_
        thresholds = np.concatenate(
            [e.tree_.threshold[e.tree_.feature == units[j].column] for e in trees]
        )
        assert np.abs(thresholds - z).min() <= 1e-9 * max(1.0, abs(z))


def _tampered(fast: object, case: Fitted, what: str) -> object:
    """A copy of ``fast`` with one parameter off: a one-hot weight, an imputed value, a
    category's imputed slot or a forest leaf."""
    if isinstance(fast, WalkingForestFastPath):
        values = fast.values.copy()
        values[:, 0] *= 1.0 + 1e-9
        trees = (fast.feature, fast.threshold, fast.children, fast.roots)
        return WalkingForestFastPath(fast.classes, fast.pre, trees, values, fast.depth)
    if isinstance(fast, ForestFastPath):
        table = fast.table.copy()
        table[:, 0] *= 1.0 + 1e-9
        return ForestFastPath(
            fast.classes, fast.pre, fast.thresholds, fast.ranks, fast.slot_ranks, table
        )
    assert isinstance(fast, LogisticFastPath)
    pre = fast.pre
    assert isinstance(pre, ColumnPreprocessor)
    coef = fast.coef.copy()
    if what == "one-hot weight":
        coef[1, pre.slot_columns[-1][0]] += 1e-6
    elif what == "imputed number":
        i = next(i for i, n in enumerate(pre.numbers) if not np.isnan(n.fill))
        numbers = list(pre.numbers)
        numbers[i] = dataclasses.replace(numbers[i], fill=numbers[i].fill + 1e-3)
        pre = ColumnPreprocessor(pre.n_inputs, pre.n_outputs, numbers, pre.categories)
    else:
        categories = list(pre.categories)
        last = categories[-1]
        assert last.missing is not None
        wrong = (last.missing + 1) % (len(last.columns) - 1)
        categories[-1] = dataclasses.replace(last, missing=wrong)
        pre = ColumnPreprocessor(pre.n_inputs, pre.n_outputs, pre.numbers, categories)
    return LogisticFastPath(fast.classes, pre, coef, fast.intercept)


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("table-logreg", "one-hot weight"),
        ("table-logreg", "imputed number"),
        ("table-logreg", "imputed category"),
        ("penguins-logreg", "imputed category"),
        ("penguins-rf", "leaf"),
        ("table-rf", "leaf"),
    ],
)
def test_check_fast_path_refuses_a_tampered_tabular_fast_path(
    fitted, name: str, what: str, caplog
) -> None:
    case = fitted[name]
    fast = compile_fast_path(case.pipeline, case.contract)
    assert check_fast_path(fast, case.pipeline, case.contract) is fast  # type: ignore[arg-type]
    tampered = _tampered(fast, case, what)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert check_fast_path(tampered, case.pipeline, case.contract) is None  # type: ignore[arg-type]
    (record,) = caplog.records
    assert record.getMessage().startswith("fast path refused: max |fast - sklearn| = ")


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_build_verified_fast_path_serves_binary_tables(table: data.Dataset, model: str) -> None:
    """Two classes: sklearn's binary predict_proba ([1 - expit(d), expit(d)] for logreg)."""
    y = table.y.where(table.y == "high", "other")
    split = dataclasses.replace(
        table.split, y_train=y[table.split.y_train.index], y_test=y[table.split.y_test.index]
    )
    binary = dataclasses.replace(table, y=y, split=split, positive_class="high")
    case = fit(binary, model, max_depth=5, n_estimators=50)
    assert case.contract.classes == ["high", "other"]
    fast = build_verified_fast_path(case.pipeline, case.contract)
    assert fast is not None
    assert fast.kind == model
    assert getattr(fast, "binary", True)
    X = _gap_and_category_rows(case.contract)
    assert np.abs(fast.predict_many(X) - case.oracle(X)).max() <= TOLERANCE


def test_build_verified_fast_path_serves_breast_cancer_logreg() -> None:
    """A built-in binary data set of Iris's shape (StandardScaler + LogisticRegression)."""
    case = fit(data.prepare("breast_cancer", 0.2, 42), "logreg")
    fast = build_verified_fast_path(case.pipeline, case.contract)
    assert isinstance(fast, LogisticFastPath)
    assert fast.binary
    X = np.array(case.contract.verification_rows, dtype=float)
    singles = np.array([fast.predict_one(row) for row in X.tolist()])
    assert np.abs(singles - case.oracle(X)).max() <= TOLERANCE
