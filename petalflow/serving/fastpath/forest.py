"""Preprocessing + random forest, each tree compiled to a lookup table.

Trees see float32(z) and go left iff z <= threshold. On a number, a tree's path depends
only on how many of its thresholds on that column lie below z; on a one-hot category,
only on which of the category's columns it splits on is the row's (or none). So each
tree is a table over those counts and classes, filled once by walking every cell.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
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

MAX_FOREST_CELLS = 2_000_000  # lookup-table rows over all trees; bigger forests walk (trees.py)
CHUNK_ROWS = 1024  # forest batches are scored in chunks to bound memory


class TableTooLargeError(UnsupportedError):
    """The forest's lookup tables would need over MAX_FOREST_CELLS cells."""


class ForestFastPath(FastPath):
    """Preprocessing + random forest, each tree compiled to a table.

    ``thresholds[i]`` are the forest's sorted thresholds on number i; ``ranks[i][k, j]`` is
    tree j's offset into ``table`` for a row with k of them below z_i. ``slot_ranks[g][s, j]``
    is tree j's offset for slot s of category g. Summing a row's offsets gives its cell in
    each tree, and ``table`` holds that leaf's ``tree_.value`` row.
    """

    kind = "rf"

    def __init__(
        self,
        classes: Sequence[object],
        pre: Preprocessor,
        thresholds: list[FloatArray],
        ranks: list[IntArray],
        slot_ranks: list[IntArray],
        table: FloatArray,
    ) -> None:
        super().__init__(classes, pre)
        self.thresholds, self.ranks, self.slot_ranks = thresholds, ranks, slot_ranks
        self.table = table
        self.n_trees = (ranks + slot_ranks)[0].shape[1]
        self._table_t = np.ascontiguousarray(table.T)
        # All offset tables stacked, so that one row costs one gather and one sum.
        blocks = ranks + slot_ranks
        starts = np.cumsum([0] + [len(b) for b in blocks]).tolist()
        self._stack = np.concatenate(blocks)
        self._numbers = list(zip([t.tolist() for t in thresholds], starts, strict=False))
        self._slot_starts = starts[len(ranks) : len(blocks)]

    def predict_many(self, X: FloatArray) -> FloatArray:
        """Cast to float32 like sklearn's trees, sum the trees' rows in tree order, / n_trees."""
        Z, S = self.pre.transform(X)
        Z32 = Z.astype(np.float32)
        if not np.isfinite(Z32).all():
            raise ValueError("the fast path needs finite inputs (after the float32 cast)")
        Zd = Z32.astype(np.float64)
        out = np.empty((len(Zd), self.table.shape[1]))
        for start in range(0, len(Zd), CHUNK_ROWS):
            part, slots = Zd[start : start + CHUNK_ROWS], S[start : start + CHUNK_ROWS]
            cells = np.zeros((self.n_trees, len(part)), dtype=np.intp)
            for f, (thresholds, ranks) in enumerate(zip(self.thresholds, self.ranks, strict=True)):
                cells += ranks.take(np.searchsorted(thresholds, part[:, f]), axis=0).T
            for g, ranks in enumerate(self.slot_ranks):
                cells += ranks.take(slots[:, g], axis=0).T
            np.add.reduce(
                self.table.take(cells, axis=0), axis=0, out=out[start : start + len(part)]
            )
        out /= self.n_trees
        return out

    def predict_one(self, row: Sequence[float]) -> list[float]:
        """Bisect per number, then one gather and a sequential sum over the trees."""
        z32, slots = float32_row(self.pre, row)
        index = [
            start + bisect_left(t, zf) for zf, (t, start) in zip(z32, self._numbers, strict=True)
        ]
        index += [start + s for s, start in zip(slots, self._slot_starts, strict=True)]
        cells = self._stack.take(index, axis=0).sum(axis=0)
        sums = np.add.accumulate(self._table_t.take(cells, axis=1), axis=1)[:, -1]
        return [s / self.n_trees for s in sums.tolist()]


class _Tree:
    """One tree's table layout: per axis (numbers, then categories), what the path sees.

    ``own[a]``: for a number, the tree's sorted thresholds on its column; for a category,
    the sorted one-hot columns of it the tree splits on. A cell holds, per axis, how many
    thresholds lie below z, or 1 + the index of the row's column in ``own`` (0: none).
    """

    def __init__(self, tree: Any, pre: Preprocessor, axis_of: IntArray) -> None:
        feat, thr = tree.feature, tree.threshold
        self.own = [np.unique(thr[feat == c]) for c in pre.numeric_columns]
        self.own += [
            np.unique(feat[np.isin(feat, [c for c in columns if c >= 0])])
            for columns in pre.slot_columns
        ]
        self.slot_class = [
            np.array([_class_of(own, c) for c in columns], dtype=np.intp)
            for own, columns in zip(
                self.own[len(pre.numeric_columns) :], pre.slot_columns, strict=True
            )
        ]
        self.dims = [len(own) + 1 for own in self.own]
        self.size = math.prod(self.dims)
        self.strides = np.cumprod([1, *self.dims[:0:-1]])[::-1]
        split = feat >= 0
        self.axis = np.where(split, axis_of[np.where(split, feat, 0)], 0)
        self.onehot = split & (self.axis >= len(pre.numeric_columns))
        self.key = np.zeros(tree.node_count, dtype=np.intp)  # see _walk
        n_numbers = len(pre.numeric_columns)
        for a, own in enumerate(self.own):
            on = split & (self.axis == a)
            self.key[on] = np.searchsorted(own, thr[on] if a < n_numbers else feat[on])
        self.key[self.onehot] += 1
        # One-hot columns are exactly 0 or 1: which way each goes at the split.
        self.left0, self.left1 = thr >= 0.0, thr >= 1.0


def _class_of(own: IntArray, column: int) -> int:
    index = int(np.searchsorted(own, column))
    return index + 1 if index < len(own) and own[index] == column else 0


def _axes(pre: Preprocessor) -> IntArray:
    """Each output column's axis: number i is axis i, category g axis n_numbers + g."""
    axis_of = np.full(pre.n_outputs, -1, dtype=np.intp)
    axis_of[pre.numeric_columns] = np.arange(len(pre.numeric_columns))
    for g, columns in enumerate(pre.slot_columns):
        axis_of[[c for c in columns if c >= 0]] = len(pre.numeric_columns) + g
    return axis_of


def compile_forest(forest: Any, pre: Preprocessor) -> ForestFastPath:
    """The fast path of a fitted RandomForestClassifier behind ``pre``; TableTooLargeError
    if its tables would exceed MAX_FOREST_CELLS."""
    if forest.n_outputs_ != 1:
        raise UnsupportedError("multi-output RandomForestClassifier")
    trees, axis_of = [e.tree_ for e in forest.estimators_], _axes(pre)
    if forest.n_features_in_ != pre.n_outputs or (axis_of < 0).any():
        raise UnsupportedError(
            f"a forest over {forest.n_features_in_} columns, not {pre.n_outputs}"
        )
    union = [
        np.unique(np.concatenate([t.threshold[t.feature == c] for t in trees]))
        for c in pre.numeric_columns
    ]
    ranks = [np.zeros((len(u) + 1, len(trees)), dtype=np.intp) for u in union]
    slot_ranks = [np.zeros((len(c), len(trees)), dtype=np.intp) for c in pre.slot_columns]
    layouts, n_cells, n_numbers = [], 0, len(union)
    for j, tree in enumerate(trees):
        layout = _Tree(tree, pre, axis_of)
        for i, (u, own) in enumerate(zip(union, layout.own, strict=False)):
            below = np.searchsorted(np.searchsorted(u, own), np.arange(len(u) + 1))
            ranks[i][:, j] = below * layout.strides[i]  # own thresholds below z, from the union's
        for g, classes in enumerate(layout.slot_class):
            slot_ranks[g][:, j] = classes * layout.strides[n_numbers + g]
        (ranks + slot_ranks)[0][:, j] += n_cells  # the tree's first cell
        n_cells += layout.size
        if n_cells > MAX_FOREST_CELLS:
            raise TableTooLargeError(f"the forest needs over {MAX_FOREST_CELLS} table cells")
        layouts.append(layout)
    table = _walk(trees, layouts, len(forest.classes_))
    return ForestFastPath(forest.classes_, pre, union, ranks, slot_ranks, table)


def _walk(trees: list[Any], layouts: list[_Tree], n_classes: int) -> FloatArray:
    """Every cell of every tree walked to its leaf, all trees at once: the leaves' values."""
    grid = np.concatenate(
        [np.indices(t.dims).reshape(len(t.dims), t.size) for t in layouts], axis=1
    )
    offsets = np.cumsum([0] + [t.node_count for t in trees])
    node = np.concatenate([np.full(t.size, o) for t, o in zip(layouts, offsets, strict=False)])
    axis, key, onehot, left0, left1 = (
        np.concatenate([getattr(t, name) for t in layouts])
        for name in ("axis", "key", "onehot", "left0", "left1")
    )
    left, right = (
        np.concatenate(
            [
                np.where(t.feature >= 0, getattr(t, side) + o, np.arange(t.node_count) + o)
                for t, o in zip(trees, offsets, strict=False)  # leaves loop on themselves
            ]
        )
        for side in ("children_left", "children_right")
    )
    cell = np.arange(grid.shape[1])
    for _ in range(max(t.max_depth for t in trees)):
        at = grid[axis[node], cell]
        # A number goes left iff at most key thresholds lie below z (z <= own[key]); a
        # one-hot column is 1 iff the row's class is key, and goes left as that value does.
        by_onehot = np.where(at == key[node], left1[node], left0[node])
        go_left = np.where(onehot[node], by_onehot, key[node] >= at)
        node = np.where(go_left, left[node], right[node])
    values = np.concatenate([t.value[:, 0, :n_classes] for t in trees])
    return np.asarray(values[node], dtype=np.float64)
