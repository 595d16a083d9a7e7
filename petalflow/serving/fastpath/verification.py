"""An exact NumPy-only predictor for the pipelines petalflow trains.

``compile_fast_path`` turns a fitted StandardScaler + LogisticRegression (multinomial) or
StandardScaler + RandomForestClassifier pipeline into an object that repeats scikit-learn
1.9's arithmetic with no sklearn, pandas or validation overhead on the hot path;
``build_verified_fast_path`` hands it out only if it matches ``pipeline.predict_proba``.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.training.data import load_dataset

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
MAX_FOREST_CELLS = 2_000_000  # lookup-table rows over all trees; bigger forests use sklearn
CHUNK_ROWS = 1024  # forest batches are scored in chunks to bound memory


class FastPath(ABC):
    """Probabilities equal to the pipeline's; never mutated after construction (thread-safe)."""

    kind = "?"

    def __init__(self, classes: Sequence[object], mean: FloatArray, scale: FloatArray) -> None:
        self.classes = [str(c) for c in classes]
        self.mean, self.scale = mean, scale
        self._mean_scale = list(zip(mean.tolist(), scale.tolist(), strict=True))

    def _scaled(self, X: FloatArray) -> FloatArray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(f"expected an (n, {len(self.mean)}) array, got shape {X.shape}")
        return (X - self.mean) / self.scale  # StandardScaler.transform: X -= mean_; X /= scale_

    def _scaled_row(self, row: Sequence[float]) -> list[float]:
        if len(row) != len(self._mean_scale):
            raise ValueError(f"expected {len(self._mean_scale)} values, got {len(row)}")
        return [(x - m) / s for x, (m, s) in zip(row, self._mean_scale, strict=True)]

    @abstractmethod
    def predict_proba(self, X: FloatArray) -> FloatArray:
        """(n, n_classes) probabilities for (n, n_features) float rows in feature order."""

    @abstractmethod
    def predict_one(self, row: Sequence[float]) -> list[float]:
        """The class probabilities of one row, with the least overhead."""


class LogisticFastPath(FastPath):
    """Scaler + multinomial logistic regression: ``Z @ coef_.T + intercept_``, then softmax."""

    kind = "logreg"

    def __init__(
        self,
        classes: Sequence[object],
        mean: FloatArray,
        scale: FloatArray,
        coef: FloatArray,
        intercept: FloatArray,
    ) -> None:
        super().__init__(classes, mean, scale)
        self.coef, self.intercept = coef, intercept
        self._weights = list(zip(coef.tolist(), intercept.tolist(), strict=True))

    def predict_proba(self, X: FloatArray) -> FloatArray:
        """sklearn's operations in sklearn's order (the same BLAS matmul)."""
        Z = self._scaled(X)
        if not np.isfinite(Z).all():
            raise ValueError("the fast path needs finite inputs")
        scores: FloatArray = Z @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict_one(self, row: Sequence[float]) -> list[float]:
        """Plain Python floats; the dot products may differ from BLAS in the last bits."""
        z = self._scaled_row(row)
        if not all(map(math.isfinite, z)):
            raise ValueError("the fast path needs finite inputs")
        scores = []
        for weights, bias in self._weights:
            acc = 0.0  # a loop, not sum(): sum() is compensated on Python >= 3.12
            for zi, wi in zip(z, weights, strict=True):
                acc += zi * wi
            scores.append(acc + bias)
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = 0.0
        for e in exps:
            total += e
        return [e / total for e in exps]


class ForestFastPath(FastPath):
    """Scaler + random forest, each tree compiled to a table over threshold ranks.

    Trees see float32(z) and go left iff z <= threshold, so a tree's leaf depends only on
    how many of its thresholds lie below z on each feature. ``thresholds[f]`` are the
    forest's sorted thresholds on feature f; ``ranks[f][k, j]`` is tree j's offset into
    ``table`` for a row with k of them below z_f. Summing the offsets over features gives the
    row's cell, and ``table`` holds that leaf's ``tree_.value`` row.
    """

    kind = "rf"

    def __init__(
        self,
        classes: Sequence[object],
        mean: FloatArray,
        scale: FloatArray,
        thresholds: list[FloatArray],
        ranks: list[IntArray],
        table: FloatArray,
    ) -> None:
        super().__init__(classes, mean, scale)
        self.thresholds, self.ranks, self.table = thresholds, ranks, table
        self.n_trees = ranks[0].shape[1]
        self._lists = list(zip([t.tolist() for t in thresholds], ranks, strict=True))
        self._table_t = np.ascontiguousarray(table.T)

    def predict_proba(self, X: FloatArray) -> FloatArray:
        """Cast to float32 like sklearn's trees, sum the trees' rows in tree order, / n_trees."""
        Z = self._scaled(X).astype(np.float32)
        if not np.isfinite(Z).all():
            raise ValueError("the fast path needs finite inputs (after the float32 cast)")
        Zd = Z.astype(np.float64)
        out = np.empty((len(Zd), self.table.shape[1]))
        for start in range(0, len(Zd), CHUNK_ROWS):
            part = Zd[start : start + CHUNK_ROWS]
            cells = np.zeros((self.n_trees, len(part)), dtype=np.intp)
            for f, (thresholds, ranks) in enumerate(zip(self.thresholds, self.ranks, strict=True)):
                cells += ranks.take(np.searchsorted(thresholds, part[:, f]), axis=0).T
            np.add.reduce(
                self.table.take(cells, axis=0), axis=0, out=out[start : start + len(part)]
            )
        out /= self.n_trees
        return out

    def predict_one(self, row: Sequence[float]) -> list[float]:
        """Bisect per feature, then one gather and a sequential sum over the trees."""
        z = np.array(self._scaled_row(row), dtype=np.float32).tolist()
        if not all(map(math.isfinite, z)):
            raise ValueError("the fast path needs finite inputs (after the float32 cast)")
        cells = np.zeros(self.n_trees, dtype=np.intp)
        for zf, (thresholds, ranks) in zip(z, self._lists, strict=True):
            cells += ranks[bisect_left(thresholds, zf)]
        sums = np.add.accumulate(self._table_t.take(cells, axis=1), axis=1)[:, -1]
        return [s / self.n_trees for s in sums.tolist()]


def _scaler_params(scaler: Any) -> tuple[FloatArray, FloatArray]:
    """mean_ and scale_, or 0 and 1 where centring / scaling is off (exact no-ops)."""
    n = int(scaler.n_features_in_)
    mean = scaler.mean_ if scaler.with_mean else np.zeros(n)
    scale = scaler.scale_ if scaler.with_std else np.ones(n)
    return np.array(mean, dtype=np.float64), np.array(scale, dtype=np.float64)


def _compile_forest(forest: Any, mean: FloatArray, scale: FloatArray) -> ForestFastPath | None:
    trees, n_features = [e.tree_ for e in forest.estimators_], len(mean)
    union = [
        np.unique(np.concatenate([t.threshold[t.feature == f] for t in trees]))
        for f in range(n_features)
    ]
    ranks = [np.zeros((len(u) + 1, len(trees)), dtype=np.intp) for u in union]
    grids, roots, rank_of, feature, left, right, values = [], [], [], [], [], [], []
    n_cells = n_nodes = 0
    for j, tree in enumerate(trees):
        feat, thr = tree.feature, tree.threshold
        own = [np.unique(thr[feat == f]) for f in range(n_features)]
        dims = [len(u) + 1 for u in own]
        strides = np.cumprod([1, *dims[:0:-1]])[::-1]
        for f in range(n_features):  # own thresholds below z, from forest thresholds below z
            below = np.searchsorted(np.searchsorted(union[f], own[f]), np.arange(len(union[f]) + 1))
            ranks[f][:, j] = below * strides[f] + (n_cells if f == 0 else 0)
        size = math.prod(dims)
        n_cells += size
        if n_cells > MAX_FOREST_CELLS:
            logger.info("the forest needs over %d table cells; no fast path", MAX_FOREST_CELLS)
            return None
        grids.append(np.indices(dims).reshape(n_features, size))  # own thresholds below z
        roots.append(np.full(size, n_nodes))
        split, nodes = feat >= 0, np.arange(tree.node_count) + n_nodes
        feature.append(np.where(split, feat, 0))
        rank = np.zeros(tree.node_count, dtype=np.intp)  # a split's index in own[feature]
        for f in range(n_features):
            rank[feat == f] = np.searchsorted(own[f], thr[feat == f])
        rank_of.append(rank)
        left.append(np.where(split, tree.children_left + n_nodes, nodes))  # leaves loop
        right.append(np.where(split, tree.children_right + n_nodes, nodes))
        values.append(tree.value[:, 0, : len(forest.classes_)])
        n_nodes += tree.node_count
    grid, node, cell = np.concatenate(grids, axis=1), np.concatenate(roots), np.arange(n_cells)
    f_of, r_of, l_of, r_child = (np.concatenate(a) for a in (feature, rank_of, left, right))
    for _ in range(max(t.max_depth for t in trees)):  # z <= own[f][i] iff at most i below z
        node = np.where(r_of[node] >= grid[f_of[node], cell], l_of[node], r_child[node])
    table = np.asarray(np.concatenate(values)[node], dtype=np.float64)
    return ForestFastPath(forest.classes_, mean, scale, union, ranks, table)


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
    mean, scale = _scaler_params(scaler)
    if type(classifier) is RandomForestClassifier:
        return _compile_forest(classifier, mean, scale)
    coef = np.array(classifier.coef_, dtype=np.float64)
    intercept = np.array(classifier.intercept_, dtype=np.float64)
    return LogisticFastPath(classifier.classes_, mean, scale, coef, intercept)


def verification_inputs(pipeline: Any, feature_names: Sequence[str], seed: int = 0) -> FloatArray:
    """Iris, 2,000 uniform rows in (0, 100] and, for forests, rows a few ulps around splits."""
    base = load_dataset()[0][list(feature_names)].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    parts = [base, 100.0 - rng.uniform(0.0, 100.0, size=(2000, base.shape[1]))]
    forest = pipeline.steps[-1][1]
    if isinstance(forest, RandomForestClassifier):
        mean, scale = _scaler_params(pipeline.steps[0][1])
        splits = np.concatenate(
            [[e.tree_.feature, e.tree_.threshold] for e in forest.estimators_], axis=1
        ).T
        splits = splits[splits[:, 0] >= 0]
        for f, t in splits[rng.choice(len(splits), size=min(100, len(splits)), replace=False)]:
            t32 = np.float32(t)
            up, down = (float(np.nextafter(t32, np.float32(s))) for s in (np.inf, -np.inf))
            z = np.array([t, t32, up, down, (float(t32) + up) / 2, (float(t32) + down) / 2])
            x = z * scale[int(f)] + mean[int(f)]  # back to raw units, then +- 1 ulp
            rows = base[rng.integers(len(base), size=3 * len(x))]
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
    rows = np.array([fast.predict_one(row) for row in X.tolist()], dtype=np.float64)
    if batch.shape != expected.shape or rows.shape != expected.shape:
        return math.inf
    diff = float(max(np.abs(batch - expected).max(), np.abs(rows - expected).max()))
    return diff if math.isfinite(diff) else math.inf


def check_fast_path(
    fast: FastPath,
    pipeline: Any,
    feature_names: Sequence[str],
    tolerance: float = 1e-12,
    seed: int = 0,
) -> FastPath | None:
    """``fast`` if it is within ``tolerance`` of the pipeline on verification_inputs, else None."""
    try:
        X = verification_inputs(pipeline, feature_names, seed)
        diff = verify(fast, pipeline, X, feature_names)
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
    pipeline: Any, feature_names: Sequence[str], tolerance: float = 1e-12, seed: int = 0
) -> FastPath | None:
    """The server's entry point: a verified fast path for ``pipeline``, or None (use sklearn)."""
    names_in = getattr(pipeline, "feature_names_in_", None)
    if names_in is not None and list(names_in) != list(feature_names):
        msg = "fast path refused: the model's features are %s, not %s"
        logger.warning(msg, list(names_in), list(feature_names))
        return None
    try:
        fast = compile_fast_path(pipeline)
    except Exception as exc:
        logger.warning("fast path refused: compiling failed: %s: %s", type(exc).__name__, exc)
        return None
    if fast is None:
        logger.info("no fast path: %s", _unsupported(pipeline) or "the forest is too large")
        return None
    return check_fast_path(fast, pipeline, feature_names, tolerance, seed)
