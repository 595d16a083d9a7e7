"""The ColumnTransformer preprocessing: repeated bit for bit, or refused naming the part."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from petalflow.core.codec import RowCodec
from petalflow.serving.fastpath import (
    ColumnPreprocessor,
    LogisticFastPath,
    UnsupportedError,
    build_verified_fast_path,
    compile_fast_path,
    compile_or_explain,
    compile_preprocessor,
    verification_inputs,
)
from petalflow.training import data
from tests.serving.fastpath.conftest import PLANS, TOLERANCE, Fitted, fit

LOGGER = "petalflow.serving.fastpath"


def _refit(fitted: Fitted, **params: Any) -> Pipeline:
    """The table's logreg pipeline with ``params`` set (set_params keys), refitted."""
    pipeline = clone(fitted.pipeline).set_params(**params)
    split = fitted.dataset.split
    return pipeline.fit(split.X_train, split.y_train)


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


@pytest.mark.parametrize(
    "params",
    [
        {"preprocess__numeric_imputed__impute__strategy": "mean"},
        {"preprocess__numeric_imputed__impute__strategy": "most_frequent"},
        {
            "preprocess__numeric_imputed__impute__strategy": "constant",
            "preprocess__numeric_imputed__impute__fill_value": -7.5,
        },
        {
            "preprocess__category_imputed__impute__strategy": "constant",
            "preprocess__category_imputed__impute__fill_value": "south",
        },
        {  # a category the encoder does not know: all zeros
            "preprocess__category_imputed__impute__strategy": "constant",
            "preprocess__category_imputed__impute__fill_value": "elsewhere",
        },
        {"preprocess__category__categories": [PLANS[:3]]},  # "pro max": all zeros
        {"preprocess__category__handle_unknown": "error"},  # every category known
        {"preprocess__numeric__with_mean": False, "preprocess__numeric__with_std": False},
        {"preprocess__numeric": "drop"},
    ],
    ids=[
        "mean",
        "most-frequent-number",
        "constant-number",
        "constant-category",
        "constant-unknown-category",
        "encoder-without-a-category",
        "handle-unknown-error",
        "scaler-off",
        "dropped-group",
    ],
)
def test_build_verified_fast_path_accepts_column_transformer_variants(
    fitted, params: dict, caplog
) -> None:
    case = fitted["table-logreg"]
    pipeline = _refit(case, **params)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        fast = build_verified_fast_path(pipeline, case.contract)
    assert isinstance(fast, LogisticFastPath), caplog.text
    assert "fast path (logreg) verified" in caplog.text


def _table_transformer(case: Fitted, **groups: Any) -> ColumnTransformer:
    """The table's ColumnTransformer with ``groups`` replacing or adding transformers."""
    ct = case.pipeline.steps[0][1]
    transformers = {name: (step, columns) for name, step, columns in ct.transformers}
    transformers.update(groups)
    return ColumnTransformer(
        [(name, step, columns) for name, (step, columns) in transformers.items()],
        remainder=ct.remainder,
        sparse_threshold=0.0,
    )


def _unsupported_cases(case: Fitted) -> list[tuple[dict[str, Any], str]]:
    numbers = ["tenure months", "größe"]
    return [
        (
            {"preprocess__numeric": MinMaxScaler()},
            "the ColumnTransformer's 'numeric' step is MinMaxScaler",
        ),
        (
            {"preprocess__numeric_imputed__impute__add_indicator": True},
            "a SimpleImputer that does not just fill NaN",
        ),
        ({"preprocess__category__drop": "first"}, "OneHotEncoder(drop='first')"),
        (
            {"preprocess__category__max_categories": 2},
            "a OneHotEncoder with infrequent categories",
        ),
        (
            {
                "preprocess__category__categories": [PLANS[:3]],
                "preprocess__category__handle_unknown": "error",
            },
            "OneHotEncoder(handle_unknown='error') without 'plan''s",
        ),
        (
            {
                "preprocess__numeric_imputed": Pipeline(
                    [("a", SimpleImputer()), ("b", StandardScaler()), ("c", MinMaxScaler())]
                )
            },
            "the ColumnTransformer's 'numeric_imputed' step is "
            "Pipeline[SimpleImputer, StandardScaler, MinMaxScaler]",
        ),
        (
            {"preprocess": _table_transformer(case, numeric=(OneHotEncoder(), numbers))},
            "a OneHotEncoder over 'tenure months', not a text category",
        ),
    ]


def test_build_verified_fast_path_logs_why_a_column_transformer_is_refused(fitted, caplog) -> None:
    case = fitted["table-logreg"]
    for params, reason in _unsupported_cases(case):
        pipeline = _refit(case, **params)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            assert build_verified_fast_path(pipeline, case.contract) is None
        assert [r.getMessage() for r in caplog.records] == [f"no fast path: {reason}"]
        assert compile_fast_path(pipeline, case.contract) is None


def test_compile_or_explain_refuses_a_passthrough_remainder(fitted) -> None:
    case = fitted["table-logreg"]
    ct = _table_transformer(case)
    ct.transformers = [t for t in ct.transformers if t[0] != "numeric"]
    ct.remainder = "passthrough"
    pipeline = _refit(case, preprocess=ct)
    message = "the ColumnTransformer's 'remainder' step is FunctionTransformer"
    with pytest.raises(UnsupportedError, match=f"^{re.escape(message)}$"):
        compile_or_explain(pipeline, case.contract)


def test_compile_or_explain_needs_the_contract_for_a_column_transformer(fitted) -> None:
    case = fitted["table-logreg"]
    with pytest.raises(UnsupportedError, match=r"^a ColumnTransformer needs the model contract$"):
        compile_or_explain(case.pipeline)
    assert compile_fast_path(case.pipeline) is None
    other = case.contract.model_copy(update={"features": case.contract.features[::-1]})
    with pytest.raises(UnsupportedError, match="features are not the contract's"):
        compile_or_explain(case.pipeline, other)
    features = [
        f.model_copy(update={"categories": None}) if f.name == "plan" else f
        for f in case.contract.features
    ]
    bare = case.contract.model_copy(update={"features": features})
    with pytest.raises(UnsupportedError, match=r"^the contract lists no categories for 'plan'$"):
        compile_or_explain(case.pipeline, bare)


def test_compile_or_explain_refuses_a_column_transformer_fitted_on_other_columns(
    table: data.Dataset,
) -> None:
    """A classifier fitted behind a narrower ColumnTransformer than the one it is served with."""
    case = fit(table, "logreg")
    narrow = _table_transformer(case, numeric=("drop", ["tenure months", "größe"]))
    split = table.split
    classifier = LogisticRegression(max_iter=1000).fit(
        narrow.fit_transform(split.X_train), split.y_train
    )
    wide = case.pipeline.steps[0][1]
    pipeline = Pipeline([("preprocess", wide), ("classifier", classifier)])
    with pytest.raises(UnsupportedError, match=r"coef_ of shape \(3, 11\)"):
        compile_or_explain(pipeline, case.contract)
