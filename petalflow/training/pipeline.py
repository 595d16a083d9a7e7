"""The estimator: one scikit-learn Pipeline of StandardScaler + a classifier."""

from __future__ import annotations

from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.training.config import TrainConfig

# Types skops must be told to trust when it loads a random forest back.
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


def build_pipeline(config: TrainConfig) -> Pipeline:
    """An unfitted pipeline for ``config.model`` with every random_state = seed."""
    classifier: ClassifierMixin
    if config.model == "logreg":
        classifier = LogisticRegression(
            C=config.C, max_iter=config.max_iter, random_state=config.seed
        )
    elif config.model == "rf":
        # n_jobs=1: parallel tree building must not make the fit order-dependent.
        classifier = RandomForestClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            random_state=config.seed,
            n_jobs=1,
        )
    else:
        raise ValueError(f"unknown model {config.model!r}; use 'logreg' or 'rf'")
    return Pipeline([("scaler", StandardScaler()), ("classifier", classifier)])


def hyperparameters(config: TrainConfig) -> dict[str, object]:
    """The hyperparameters that matter for ``config.model`` (for the log line)."""
    if config.model == "logreg":
        return {"C": config.C, "max_iter": config.max_iter}
    return {"n_estimators": config.n_estimators, "max_depth": config.max_depth}
