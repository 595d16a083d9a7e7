"""Compiling the ColumnTransformer: the variants it can repeat exactly, and every other part
refused, the reason logged."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from petalflow.serving.fastpath import (
    LogisticFastPath,
    UnsupportedError,
    build_verified_fast_path,
    compile_fast_path,
    compile_or_explain,
)
from petalflow.training import data
from tests.serving.fastpath.conftest import PLANS, Fitted, fit

LOGGER = "petalflow.serving.fastpath"


def _refit(fitted: Fitted, **params: Any) -> Pipeline:
    """The table's logreg pipeline with ``params`` set (set_params keys), refitted."""
    pipeline = clone(fitted.pipeline).set_params(**params)
    split = fitted.dataset.split
    return pipeline.fit(split.X_train, split.y_train)


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
