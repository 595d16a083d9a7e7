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
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return [float(c) for c in counts / max(len(values), 1)]


def reference_stats(X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Per-feature quantile bins and sample, and the class distribution of ``y``."""
    features: dict[str, Any] = {}
    for name in X.columns:
        values = np.sort(X[name].to_numpy(dtype=float))
        edges = bin_edges(values)
        if len(values) > MAX_SAMPLE:
            values = np.quantile(values, np.linspace(0, 1, MAX_SAMPLE))
        features[str(name)] = {
            "bin_edges": edges,
            "bin_fractions": bin_fractions(X[name].to_numpy(dtype=float), edges),
            "mean": float(X[name].mean()),
            "std": float(X[name].std(ddof=0)),
            "sample": [float(v) for v in values],
        }
    counts = y.astype(str).value_counts().sort_index()
    return {
        "n_samples": len(y),
        "features": features,
        "class_distribution": {str(k): float(v / len(y)) for k, v in counts.items()},
    }
