"""Compiling a fitted pipeline to a fast path, and refusing it unless it is exact.

``build_verified_fast_path`` hands out a fast path only if it matches ``pipeline.predict_proba``
to ``tolerance`` on the model contract's verification rows, random rows inside the
contract's bounds and, for forests, rows a few ulps around every sampled split.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.core.contract import ModelContract
from petalflow.serving.fastpath.base import FastPath, FloatArray, scaler_params
from petalflow.serving.fastpath.forest import compile_forest
from petalflow.serving.fastpath.logistic import LogisticFastPath

logger = logging.getLogger(__name__)


def _unsupported(pipeline: Any) -> str | None:
    """Why ``pipeline`` gets no fast path, or None when it gets one."""
    if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
        return "not a two-step Pipeline"
    scaler, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    if type(scaler) is not StandardScaler:
        return f"the first step is {type(scaler).__name__}, not StandardScaler"
    if type(classifier) is LogisticRegression:
        return None if len(classifier.classes_) > 2 else "binary LogisticRegression"
    if type(classifier) is RandomForestClassifier:
        return None if classifier.n_outputs_ == 1 else "multi-output RandomForestClassifier"
    return f"the classifier is {type(classifier).__name__}"


def compile_fast_path(pipeline: Any) -> FastPath | None:
    """A fast path for a fitted scaler + logreg / rf pipeline; None for anything else."""
    if _unsupported(pipeline) is not None:
        return None
    scaler, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    mean, scale = scaler_params(scaler)
    if type(classifier) is RandomForestClassifier:
        return compile_forest(classifier, mean, scale)
    coef = np.array(classifier.coef_, dtype=np.float64)
    intercept = np.array(classifier.intercept_, dtype=np.float64)
    return LogisticFastPath(classifier.classes_, mean, scale, coef, intercept)


def _bounded_rows(contract: ModelContract, base: FloatArray, n: int, rng: Any) -> FloatArray:
    """``n`` uniform rows inside each feature's bounds; unbounded sides reach 3 standard
    deviations of the verification rows (or +-100 when there are none) past them."""
    columns = []
    for j, feature in enumerate(contract.features):
        column = base[:, j] if len(base) else np.zeros(1)
        spread = 3 * float(column.std()) or 100.0
        low = feature.ge if feature.ge is not None else feature.gt
        high = feature.le if feature.le is not None else feature.lt
        low = float(column.min()) - spread if low is None else float(low)
        high = float(column.max()) + spread if high is None else float(high)
        # high - U[0, 1) lies in (low, high]: an open lower bound is never hit.
        columns.append(high - rng.uniform(0.0, 1.0, size=n) * (high - low))
    return np.column_stack(columns)


def verification_inputs(pipeline: Any, contract: ModelContract, seed: int = 0) -> FloatArray:
    """The contract's verification rows, 2,000 random rows inside its bounds and, for
    forests, rows a few ulps around sampled splits."""
    width = len(contract.features)
    base = np.asarray(contract.verification_rows, dtype=np.float64).reshape(-1, width)
    rng = np.random.default_rng(seed)
    parts = [base, _bounded_rows(contract, base, 2000, rng)]
    anchor = base if len(base) else parts[1]
    forest = pipeline.steps[-1][1]
    if isinstance(forest, RandomForestClassifier):
        mean, scale = scaler_params(pipeline.steps[0][1])
        splits = np.concatenate(
            [[e.tree_.feature, e.tree_.threshold] for e in forest.estimators_], axis=1
        ).T
        splits = splits[splits[:, 0] >= 0]
        for f, t in splits[rng.choice(len(splits), size=min(100, len(splits)), replace=False)]:
            t32 = np.float32(t)
            up, down = (float(np.nextafter(t32, np.float32(s))) for s in (np.inf, -np.inf))
            z = np.array([t, t32, up, down, (float(t32) + up) / 2, (float(t32) + down) / 2])
            x = z * scale[int(f)] + mean[int(f)]  # back to raw units, then +- 1 ulp
            rows = anchor[rng.integers(len(anchor), size=3 * len(x))]
            rows[:, int(f)] = np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)])
            parts.append(rows)
    return np.concatenate(parts)


def verify(
    fast: FastPath, pipeline: Any, X: FloatArray, feature_names: Sequence[str] | None = None
) -> float:
    """Max |fast - pipeline.predict_proba| over the rows of ``X``, batch and row by row.

    The pipeline gets a DataFrame with ``feature_names`` (default: its feature_names_in_).
    """
    X = np.asarray(X, dtype=np.float64)
    names = getattr(pipeline, "feature_names_in_", None) if feature_names is None else feature_names
    expected = pipeline.predict_proba(X if names is None else pd.DataFrame(X, columns=list(names)))
    if fast.classes != [str(c) for c in pipeline.classes_]:
        return math.inf
    batch = fast.predict_proba(X)
    rows = np.concatenate([fast.predict_proba(X[i : i + 1]) for i in range(len(X))])
    if batch.shape != expected.shape or rows.shape != expected.shape:
        return math.inf
    diff = float(max(np.abs(batch - expected).max(), np.abs(rows - expected).max()))
    return diff if math.isfinite(diff) else math.inf


def check_fast_path(
    fast: FastPath,
    pipeline: Any,
    contract: ModelContract,
    tolerance: float = 1e-12,
    seed: int = 0,
) -> FastPath | None:
    """``fast`` if it is within ``tolerance`` of the pipeline on verification_inputs, else None."""
    try:
        X = verification_inputs(pipeline, contract, seed)
        diff = verify(fast, pipeline, X, contract.feature_names)
    except Exception as exc:  # the sklearn pipeline still works: never fail the server here
        logger.warning("fast path refused: verification failed: %s: %s", type(exc).__name__, exc)
        return None
    if not diff <= tolerance:
        msg = "fast path refused: max |fast - sklearn| = %.3g > tolerance %.0e over %d inputs"
        logger.warning(msg, diff, tolerance, len(X))
        return None
    msg = "fast path (%s) verified: max |fast - sklearn| = %.3g over %d inputs"
    logger.info(msg, fast.kind, diff, len(X))
    return fast


def build_verified_fast_path(
    pipeline: Any, contract: ModelContract, tolerance: float = 1e-12, seed: int = 0
) -> FastPath | None:
    """The server's entry point: a verified fast path for ``pipeline``, or None (use sklearn)."""
    names_in = getattr(pipeline, "feature_names_in_", None)
    feature_names = contract.feature_names
    if names_in is not None and list(names_in) != feature_names:
        msg = "fast path refused: the model's features are %s, not %s"
        logger.warning(msg, list(names_in), feature_names)
        return None
    try:
        fast = compile_fast_path(pipeline)
    except Exception as exc:
        logger.warning("fast path refused: compiling failed: %s: %s", type(exc).__name__, exc)
        return None
    if fast is None:
        logger.info("no fast path: %s", _unsupported(pipeline) or "the forest is too large")
        return None
    return check_fast_path(fast, pipeline, contract, tolerance, seed)
