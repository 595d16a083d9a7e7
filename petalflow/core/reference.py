"""Reference statistics of the training split, the baseline for drift detection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

N_BINS = 10
# Enough points to stand for the training distribution in a KS test, few enough
# to keep reference_stats.json small for large training sets.
MAX_SAMPLE = 1000


def bin_edges(values: np.ndarray, n_bins: int = N_BINS) -> list[float]:
    """Inner edges of quantile bins (ties merged); the outer bins are open-ended."""
    inner = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
    return [float(v) for v in np.unique(inner)]


def bin_fractions(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of ``values`` in each bin (``len(edges) + 1`` bins, right-closed)."""
    return sorted_bin_fractions(np.sort(np.asarray(values, dtype=float)), edges)


def sorted_bin_fractions(values: np.ndarray, edges: list[float]) -> list[float]:
    """``bin_fractions`` of already sorted ``values``: the bins' counts are the gaps
    between the edges' positions in ``values`` (a value on an edge counts below it)."""
    inner = np.searchsorted(values, np.asarray(edges, dtype=float), side="right")
    counts = np.diff(np.concatenate(([0], inner, [len(values)])))
    return [float(c) for c in counts / max(len(values), 1)]


def _numeric_stats(column: pd.Series) -> dict[str, Any]:
    """Quantile bins, mean, std and sample of the present values (gaps: ``missing_rate``)."""
    present = column.dropna().to_numpy(dtype=float)
    values = np.sort(present)
    edges = bin_edges(values) if len(values) else []
    fractions = sorted_bin_fractions(values, edges)
    if len(values) > MAX_SAMPLE:
        values = np.quantile(values, np.linspace(0, 1, MAX_SAMPLE))
    stats: dict[str, Any] = {
        "bin_edges": edges,
        "bin_fractions": fractions,
        "mean": float(column.mean()) if len(present) else 0.0,
        "std": float(column.std(ddof=0)) if len(present) else 0.0,
        "sample": [float(v) for v in values],
    }
    if len(present) < len(column):
        stats["missing_rate"] = (len(column) - len(present)) / len(column)
    return stats


def _category_stats(column: pd.Series) -> dict[str, Any]:
    """The share of each category and of missing values, both among all rows (drift
    renormalises the category shares over the present values)."""
    counts = column.dropna().astype(str).value_counts().sort_index()
    return {
        "category_fractions": {str(k): float(v / len(column)) for k, v in counts.items()},
        "missing_rate": float(column.isna().mean()),
    }


def reference_stats(X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Per-feature quantile bins and sample (category shares for text columns), and the
    class distribution of ``y``."""
    features: dict[str, Any] = {}
    for name in X.columns:
        column = X[name]
        is_text = column.dtype == object
        features[str(name)] = _category_stats(column) if is_text else _numeric_stats(column)
    counts = y.astype(str).value_counts().sort_index()
    return {
        "n_samples": len(y),
        "features": features,
        "class_distribution": {str(k): float(v / len(y)) for k, v in counts.items()},
    }
