"""Preprocessing + random forest, each row walked down every tree, as sklearn's trees do.

For forests whose lookup tables (``forest.py``) would be too large: deep trees over many
numbers. Slower than a table (a Python loop over the trees for one row), still far cheaper
than the pipeline's predict_proba, and exact the same way: float32 inputs, ``x <= t`` goes
left, the trees' values summed in tree order, then divided by their number.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from petalflow.serving.fastpath.base import (
    FastPath,
    FloatArray,
    IntArray,
    Preprocessor,
    UnsupportedError,
    float32_row,
)

logger = logging.getLogger(__name__)

MAX_WALK_NODES = 2_000_000  # nodes over all trees (40 bytes + 8 per class each); more: sklearn
CHUNK_ROWS = 1024  # batches are walked in chunks to bound memory


class WalkingForestFastPath(FastPath):
    """The forest's nodes in flat arrays, all trees together (node ids offset per tree).

    ``feature[k]`` is node k's column (< 0 at a leaf); a row goes to ``children[2k]`` if
    its value <= ``threshold[k]``, else to ``children[2k + 1]``; a leaf's children are
    itself. ``values[k]`` is node k's ``tree_.value`` row.
    """

    kind = "rf"

    def __init__(
        self,
        classes: Sequence[object],
        pre: Preprocessor,
        trees: tuple[IntArray, FloatArray, IntArray, IntArray],
        values: FloatArray,
        depth: int,
    ) -> None:
        super().__init__(classes, pre)
        self.feature, self.threshold, self.children, self.roots = trees
        self.values, self.depth, self.n_trees = values, depth, len(self.roots)
        self._split_feature = np.maximum(self.feature, 0)  # leaves read any column
        self._root_list = self.roots.tolist()
        self._bind_views()

    def _bind_views(self) -> None:
        # Memoryviews index to Python scalars (the single-row walk's speed).
        self._views = (self.feature.data, self.threshold.data)
        self._children = self.children.data

    def __getstate__(self) -> dict[str, Any]:
        # Memoryviews do not pickle, and the server's verifying child sends this back.
        state = dict(self.__dict__)
        del state["_views"], state["_children"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_views()

    def predict_many(self, X: FloatArray) -> FloatArray:
        """Every row down every tree at once, one level per step."""
        Z, S = self.pre.transform(X)
        Z32 = Z.astype(np.float32)
        if not np.isfinite(Z32).all():
            raise ValueError("the fast path needs finite inputs (after the float32 cast)")
        rows = self.pre.dense(Z32.astype(np.float64), S)
        out = np.empty((len(rows), self.values.shape[1]))
        for start in range(0, len(rows), CHUNK_ROWS):
            part = rows[start : start + CHUNK_ROWS]
            flat, base = part.ravel(), np.arange(len(part)) * part.shape[1]
            node = np.repeat(self.roots[:, None], len(part), axis=1)  # (n_trees, rows)
            for _ in range(self.depth):
                value = flat.take(self._split_feature.take(node) + base)
                node = self.children.take(2 * node + (value > self.threshold.take(node)))
            np.add.reduce(
                self.values.take(node, axis=0), axis=0, out=out[start : start + len(part)]
            )
        out /= self.n_trees
        return out

    def predict_one(self, row: Sequence[float]) -> list[float]:
        """The row laid out as the classifier sees it, then a Python walk per tree."""
        z32, slots = float32_row(self.pre, row)
        x = [0.0] * self.pre.n_outputs
        for column, value in zip(self.pre.numeric_columns, z32, strict=True):
            x[column] = value
        for columns, slot in zip(self.pre.slot_columns, slots, strict=True):
            if columns[slot] >= 0:
                x[columns[slot]] = 1.0
        feature, threshold = self._views
        children = self._children
        leaves = []
        for k in self._root_list:
            f = feature[k]
            while f >= 0:
                k = children[2 * k + (x[f] > threshold[k])]
                f = feature[k]
            leaves.append(k)
        sums = np.add.accumulate(self.values.take(leaves, axis=0), axis=0)[-1]
        return [s / self.n_trees for s in sums.tolist()]


def compile_walk(forest: Any, pre: Preprocessor) -> WalkingForestFastPath:
    """The walking fast path of a fitted RandomForestClassifier behind ``pre``."""
    trees = [e.tree_ for e in forest.estimators_]
    offsets = np.cumsum([0] + [t.node_count for t in trees])
    if offsets[-1] > MAX_WALK_NODES:
        raise UnsupportedError(f"the forest has over {MAX_WALK_NODES} nodes")
    feature = np.concatenate([t.feature for t in trees]).astype(np.intp)
    threshold = np.concatenate([t.threshold for t in trees]).astype(np.float64)
    pairs = [  # (left, right) per node; a leaf's are itself
        np.stack(
            [
                np.where(t.feature >= 0, t.children_left + o, np.arange(t.node_count) + o),
                np.where(t.feature >= 0, t.children_right + o, np.arange(t.node_count) + o),
            ],
            axis=1,
        )
        for t, o in zip(trees, offsets, strict=False)
    ]
    children = np.ascontiguousarray(np.concatenate(pairs).ravel(), dtype=np.intp)
    values = np.concatenate([t.value[:, 0, : len(forest.classes_)] for t in trees])
    depth = max(t.max_depth for t in trees)
    roots = np.asarray(offsets[:-1], dtype=np.intp)
    return WalkingForestFastPath(
        forest.classes_,
        pre,
        (feature, threshold, children, roots),
        np.asarray(values, dtype=np.float64),
        depth,
    )
