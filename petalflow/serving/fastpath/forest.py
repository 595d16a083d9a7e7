"""Scaler + random forest, each tree compiled to a lookup table over threshold ranks."""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

import numpy as np

from petalflow.serving.fastpath.base import FastPath, FloatArray, IntArray

logger = logging.getLogger(__name__)

MAX_FOREST_CELLS = 2_000_000  # lookup-table rows over all trees; bigger forests use sklearn
CHUNK_ROWS = 1024  # forest batches are scored in chunks to bound memory


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

    def predict_many(self, X: FloatArray) -> FloatArray:
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


def compile_forest(forest: Any, mean: FloatArray, scale: FloatArray) -> ForestFastPath | None:
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
