"""The preprocessing stage: the StandardScaler's options (Iris), and the ColumnTransformer
repeated bit for bit, gaps, codes and all (the generated table, penguins)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from petalflow.core.codec import RowCodec
from petalflow.serving.fastpath import (
    ColumnPreprocessor,
    ScalerPreprocessor,
    compile_fast_path,
    compile_preprocessor,
    verification_inputs,
    verify,
)
from tests.serving.fastpath.conftest import TOLERANCE
from tests.serving.fastpath.iris import (
    fit_iris,
    random_rows,
)


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
    pipeline = fit_iris(iris, StandardScaler(with_mean=with_mean, with_std=with_std), classifier)
    fast = compile_fast_path(pipeline)
    assert fast is not None
    scaler = pipeline.steps[0][1]
    assert isinstance(fast.pre, ScalerPreprocessor)
    assert fast.pre.mean.tolist() == (scaler.mean_.tolist() if with_mean else [0.0] * 4)
    assert fast.pre.scale.tolist() == (scaler.scale_.tolist() if with_std else [1.0] * 4)
    X = np.concatenate([iris[0].to_numpy(), random_rows(50, seed=4)])
    assert verify(fast, pipeline, X) <= TOLERANCE


@pytest.mark.parametrize("name", ["penguins-logreg", "table-logreg"])
def test_column_preprocessor_output_equals_the_column_transformer(fitted, name: str) -> None:
    case = fitted[name]
    pre = compile_preprocessor(case.pipeline.steps[0][1], case.contract)
    assert isinstance(pre, ColumnPreprocessor)
    X = verification_inputs(case.pipeline, case.contract)
    expected = case.pipeline.steps[0][1].transform(RowCodec(case.contract).to_frame(X))
    Z, S = pre.transform(X)
    assert np.array_equal(pre.dense(Z, S), expected)  # bit for bit, gaps and all
    for i in range(0, len(X), 13):
        z, slots = pre.transform_row(X[i].tolist())
        assert z == Z[i].tolist()
        assert slots == S[i].tolist()


def test_column_preprocessor_lays_out_the_table_in_column_transformer_order(fitted) -> None:
    case = fitted["table-logreg"]
    pre = compile_preprocessor(case.pipeline.steps[0][1], case.contract)
    assert isinstance(pre, ColumnPreprocessor)
    names = case.contract.feature_names
    # numeric (tenure, größe), numeric_imputed (active, score, items), plan, region
    assert [names[n.feature] for n in pre.numbers] == [
        "tenure months",
        "größe",
        "active",
        "score",
        "items",
    ]
    assert pre.numeric_columns == [0, 1, 2, 3, 4]
    assert [c.name for c in pre.categories] == ["plan", "region"]
    assert pre.slot_columns == [[5, 6, 7, 8, -1], [9, 10, 11, 12, -1]]
    assert pre.n_outputs == 13
    medians = case.dataset.split.X_train[["active", "score", "items"]].median().tolist()
    assert [n.fill for n in pre.numbers[2:]] == medians
    assert all(np.isnan(n.fill) for n in pre.numbers[:2])
    region = pre.categories[1]
    most_frequent = case.dataset.split.X_train["region"].mode()[0]
    assert region.missing == ["west", "north", "south", "east"].index(most_frequent)
    assert pre.categories[0].missing is None


@pytest.mark.parametrize(
    ("code", "path"),
    [(4.0, "one"), (-1.0, "one"), (0.5, "many"), (np.inf, "many"), (np.nan, "one")],
)
def test_column_preprocessor_refuses_a_code_that_is_no_category(fitted, code, path) -> None:
    case = fitted["table-logreg"]
    fast = compile_fast_path(case.pipeline, case.contract)
    assert fast is not None
    row = np.nan_to_num(np.asarray(case.contract.verification_rows[0], dtype=float))
    row[case.contract.feature_names.index("plan")] = code
    with pytest.raises(ValueError, match=r"^plan: .* is not a category index \(0 to 3\)$"):
        if path == "one":
            fast.predict_one(row.tolist())
        else:
            fast.predict_many(np.array([row, row]))


@pytest.mark.parametrize("path", ["one", "many"])
def test_column_preprocessor_imputes_only_nullable_features(fitted, path: str) -> None:
    case = fitted["table-logreg"]
    fast = compile_fast_path(case.pipeline, case.contract)
    assert fast is not None
    names = case.contract.feature_names
    row = np.nan_to_num(np.asarray(case.contract.verification_rows[0], dtype=float))
    gaps = row.copy()
    gaps[[names.index(n) for n in ("active", "score", "items", "region")]] = np.nan
    got = fast.predict_one(gaps.tolist()) if path == "one" else fast.predict_many(gaps[None])[0]
    assert np.abs(np.asarray(got) - case.oracle(gaps[None])[0]).max() <= TOLERANCE
    bad = row.copy()
    bad[names.index("tenure months")] = np.nan
    with pytest.raises(ValueError, match=r"^the fast path needs finite inputs$"):
        fast.predict_one(bad.tolist()) if path == "one" else fast.predict_many(bad[None])


@pytest.mark.parametrize("name", ["table-logreg", "table-rf", "table-rf-small"])
def test_column_fast_paths_answer_an_empty_batch(fitted, name: str) -> None:
    case = fitted[name]
    fast = compile_fast_path(case.pipeline, case.contract)
    assert fast is not None
    assert fast.predict_many(np.empty((0, len(case.contract.features)))).shape == (0, 3)
