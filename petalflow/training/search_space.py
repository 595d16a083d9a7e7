"""What tune searches: each model's hyperparameters, their ranges, and the classifier.

logreg: ``C`` (log-uniform) and ``class_weight``; rf: ``n_estimators`` (log-uniform
integers), ``max_depth``, ``min_samples_leaf`` and ``max_features``. Every estimator gets
``random_state = seed``; the forest builds its trees in one thread (``n_jobs=1``), so a fit
does not depend on the machine.
"""

from __future__ import annotations

from typing import Any

import optuna
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from petalflow.training.config import MODEL_CHOICES

LOGREG_MAX_ITER = 1000
# Categorical choices are spelled as MLflow params are: "none" for unset.
CLASS_WEIGHTS = ("none", "balanced")
MAX_DEPTHS = ("none", "2", "4", "8", "16")
MAX_FEATURES = ("sqrt", "log2", "all")

SPACES: dict[str, dict[str, optuna.distributions.BaseDistribution]] = {
    "logreg": {
        "C": optuna.distributions.FloatDistribution(1e-3, 1e3, log=True),
        "class_weight": optuna.distributions.CategoricalDistribution(CLASS_WEIGHTS),
    },
    "rf": {
        "n_estimators": optuna.distributions.IntDistribution(10, 300, log=True),
        "max_depth": optuna.distributions.CategoricalDistribution(MAX_DEPTHS),
        "min_samples_leaf": optuna.distributions.IntDistribution(1, 10),
        "max_features": optuna.distributions.CategoricalDistribution(MAX_FEATURES),
    },
}


def suggest(trial: optuna.Trial, model: str) -> dict[str, Any]:
    """The trial's hyperparameters for ``model``, drawn by the study's sampler."""
    drawn: dict[str, Any] = {}
    for name, dist in SPACES[model].items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            drawn[name] = trial.suggest_categorical(name, dist.choices)
        elif isinstance(dist, optuna.distributions.IntDistribution):
            drawn[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        else:
            assert isinstance(dist, optuna.distributions.FloatDistribution)
            drawn[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return drawn


def describe(model: str) -> dict[str, str]:
    """The space as MLflow params of the parent run: ``space_C = float log [0.001, 1000]``."""
    described: dict[str, str] = {}
    for name, dist in SPACES[model].items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            text = "one of " + ", ".join(str(c) for c in dist.choices)
        else:
            assert isinstance(
                dist, optuna.distributions.IntDistribution | optuna.distributions.FloatDistribution
            )
            kind = "int" if isinstance(dist, optuna.distributions.IntDistribution) else "float"
            scale = " log" if dist.log else ""
            text = f"{kind}{scale} [{dist.low:g}, {dist.high:g}]"
        described[f"space_{name}"] = text
    return described


def _none(value: str) -> str | None:
    return None if value == "none" else value


def classifier(model: str, params: dict[str, Any], seed: int) -> ClassifierMixin:
    """The unfitted classifier of ``model`` with ``params`` (as ``suggest`` returns them)."""
    if model == "logreg":
        return LogisticRegression(
            C=float(params["C"]),
            class_weight=_none(params["class_weight"]),
            max_iter=LOGREG_MAX_ITER,
            random_state=seed,
        )
    if model == "rf":
        depth = _none(params["max_depth"])
        features = params["max_features"]
        return RandomForestClassifier(
            n_estimators=int(params["n_estimators"]),
            max_depth=None if depth is None else int(depth),
            min_samples_leaf=int(params["min_samples_leaf"]),
            max_features=None if features == "all" else features,
            random_state=seed,
            n_jobs=1,
        )
    raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODEL_CHOICES)}")
