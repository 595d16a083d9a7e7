"""The estimator: one scikit-learn Pipeline of preprocessing + a classifier.

A table of numbers that are never missing (Iris, wine, breast_cancer, synthetic) gets
Iris's shape, ``StandardScaler`` + classifier, which the server's fast path can serve.
Any other gets a ``ColumnTransformer``: numbers (bool as 0/1) -> median imputation where
nullable + ``StandardScaler``; categories -> most-frequent imputation where nullable +
``OneHotEncoder(handle_unknown="ignore")`` over the contract's categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from petalflow.core.contract import FeatureSpec
from petalflow.training.config import TrainConfig

# Types skops must be told to trust when it loads a model back: a random forest's trees,
# and the dtype the imputers and encoders of a ColumnTransformer keep.
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree", "numpy.dtype"]


def build_classifier(config: TrainConfig) -> ClassifierMixin:
    """The unfitted classifier for ``config.model`` with random_state = seed."""
    if config.model == "logreg":
        return LogisticRegression(C=config.C, max_iter=config.max_iter, random_state=config.seed)
    if config.model == "rf":
        # n_jobs=1: parallel tree building must not make the fit order-dependent.
        return RandomForestClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            random_state=config.seed,
            n_jobs=1,
        )
    raise ValueError(f"unknown model {config.model!r}; use 'logreg' or 'rf'")


def _encoder(features: Sequence[FeatureSpec]) -> OneHotEncoder:
    categories = [list(f.categories or []) for f in features]
    return OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)


def _transformer(group: str, members: Sequence[FeatureSpec]) -> Any:
    if group == "numeric":
        return StandardScaler()
    if group == "numeric_imputed":
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    if group == "category":
        return _encoder(members)
    return Pipeline(
        [("impute", SimpleImputer(strategy="most_frequent")), ("encode", _encoder(members))]
    )


def preprocessor(features: Sequence[FeatureSpec]) -> ColumnTransformer:
    """The ColumnTransformer of SPEC 7; every category feature needs its categories."""
    groups: dict[str, list[FeatureSpec]] = {
        "numeric": [],
        "numeric_imputed": [],
        "category": [],
        "category_imputed": [],
    }
    for feature in features:
        kind = "numeric" if feature.numeric else "category"
        groups[kind + ("_imputed" if feature.nullable else "")].append(feature)
    transformers = [
        (group, _transformer(group, members), [f.name for f in members])
        for group, members in groups.items()
        if members
    ]
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def build_pipeline(config: TrainConfig, features: Sequence[FeatureSpec] | None = None) -> Pipeline:
    """An unfitted pipeline for ``config.model``: Iris's shape when ``features`` is None
    or all numbers that are never missing, else the ColumnTransformer one."""
    return assemble(build_classifier(config), features)


def assemble(classifier: ClassifierMixin, features: Sequence[FeatureSpec] | None) -> Pipeline:
    """``classifier`` behind the preprocessing that ``features`` need (see the module)."""
    return Pipeline([preprocessing(features), ("classifier", classifier)])


def preprocessing(features: Sequence[FeatureSpec] | None) -> tuple[str, Any]:
    """The unfitted preprocessing step, (name, transformer), that ``features`` need: it
    does not depend on the classifier or its hyperparameters."""
    if features is None or all(f.numeric and not f.nullable for f in features):
        return ("scaler", StandardScaler())
    return ("preprocess", preprocessor(features))


def hyperparameters(config: TrainConfig) -> dict[str, object]:
    """The hyperparameters that matter for ``config.model`` (for the log line)."""
    if config.model == "logreg":
        return {"C": config.C, "max_iter": config.max_iter}
    return {"n_estimators": config.n_estimators, "max_depth": config.max_depth}
