"""Compiling a fitted pipeline to a fast path, and refusing it unless it is exact.

``build_verified_fast_path`` hands out a fast path only if it matches ``pipeline.predict_proba``
to ``tolerance`` on ``verification_inputs``: the model contract's verification rows,
random rows inside its bounds with every category and gaps, and, for forests, rows a few
ulps around sampled splits.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from petalflow.core.codec import RowCodec
from petalflow.core.contract import ModelContract
from petalflow.serving.fastpath.base import FastPath, FloatArray, UnsupportedError
from petalflow.serving.fastpath.columns import compile_preprocessor
from petalflow.serving.fastpath.forest import TableTooLargeError, compile_forest
from petalflow.serving.fastpath.inputs import verification_inputs
from petalflow.serving.fastpath.logistic import compile_logistic
from petalflow.serving.fastpath.trees import compile_walk

logger = logging.getLogger(__name__)


def compile_or_explain(pipeline: Any, contract: ModelContract | None = None) -> FastPath:
    """The fast path of a fitted pipeline petalflow trains; UnsupportedError (saying why) for
    anything else. A ColumnTransformer needs ``contract``: its categories' codes."""
    if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
        raise UnsupportedError("not a two-step Pipeline")
    step, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    if type(classifier) not in (LogisticRegression, RandomForestClassifier):
        raise UnsupportedError(f"the classifier is {type(classifier).__name__}")
    pre = compile_preprocessor(step, contract)
    if type(classifier) is LogisticRegression:
        return compile_logistic(classifier, pre)
    try:
        return compile_forest(classifier, pre)
    except TableTooLargeError as exc:
        logger.info("%s: the fast path walks its trees instead", exc)
        return compile_walk(classifier, pre)


def compile_fast_path(pipeline: Any, contract: ModelContract | None = None) -> FastPath | None:
    """``compile_or_explain``, or None where it is unsupported."""
    try:
        return compile_or_explain(pipeline, contract)
    except UnsupportedError:
        return None


def verify(
    fast: FastPath, pipeline: Any, X: FloatArray, contract: ModelContract | None = None
) -> float:
    """Max |fast - pipeline.predict_proba| over the encoded rows ``X``, batch and row by row.

    The pipeline gets ``RowCodec(contract).to_frame(X)``; without a contract, ``X`` as a
    DataFrame with its feature_names_in_ (if it has them).
    """
    X = np.asarray(X, dtype=np.float64)
    if contract is not None:
        frame: Any = RowCodec(contract).to_frame(X)
    else:
        names = getattr(pipeline, "feature_names_in_", None)
        frame = X if names is None else pd.DataFrame(X, columns=list(names))
    expected = pipeline.predict_proba(frame)
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
        diff = verify(fast, pipeline, X, contract)
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
        fast = compile_or_explain(pipeline, contract)
    except UnsupportedError as exc:
        logger.info("no fast path: %s", exc)
        return None
    except Exception as exc:
        logger.warning("fast path refused: compiling failed: %s: %s", type(exc).__name__, exc)
        return None
    return check_fast_path(fast, pipeline, contract, tolerance, seed)
