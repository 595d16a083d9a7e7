"""Drift of a numeric feature (float, int): PSI over the reference quantile bins and a
two-sample Kolmogorov-Smirnov test against the reference sample, over present values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from petalflow.core.reference import sorted_bin_fractions
from petalflow.monitoring.drift.scores import combine, psi

# Up to this many live values the KS test is scipy's own ``ks_2samp`` (its exact p-value;
# scipy's 'auto' method is exact up to the same size). Above it, scipy would switch to its
# asymptotic p-value anyway, and the statistic is computed here from the sorted window in
# a few milliseconds instead of ~20 ms per 100,000 values (same statistic, same p-value).
KS_EXACT_MAX = 10_000


def ks_statistic(live_sorted: np.ndarray, reference_sorted: np.ndarray) -> float:
    """sup |F_live - F_reference| of the two empirical CDFs (sorted inputs, no NaN).

    Between two consecutive distinct reference values the reference CDF is constant and
    the live CDF rises, so the supremum is reached at a reference value or just before
    one: only those points (at most len(reference) of them) need the live CDF.
    """
    values, counts = np.unique(reference_sorted, return_counts=True)
    m, n = len(reference_sorted), len(live_sorted)
    ref_at = np.cumsum(counts) / m  # F_reference(u_k)
    ref_before = np.concatenate(([0.0], ref_at[:-1]))  # F_reference just below u_k
    live_at = np.searchsorted(live_sorted, values, side="right") / n  # F_live(u_k)
    live_before = np.searchsorted(live_sorted, values, side="left") / n  # F_live(u_k-)
    return float(max(np.max(np.abs(live_at - ref_at)), np.max(np.abs(live_before - ref_before))))


def ks_test(live_sorted: np.ndarray, reference_sorted: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the two-sided two-sample KS test, as ``scipy.stats.ks_2samp``
    computes them with its default method."""
    if len(live_sorted) <= KS_EXACT_MAX:
        result = stats.ks_2samp(live_sorted, reference_sorted)
        return float(result.statistic), float(result.pvalue)
    statistic = ks_statistic(live_sorted, reference_sorted)
    # scipy's asymptotic branch: Smirnov's distribution at the effective sample size.
    large, small = sorted([float(len(live_sorted)), float(len(reference_sorted))], reverse=True)
    effective = np.round(large * small / (large + small))
    return statistic, float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


def feature_drift(reference: Mapping[str, Any], values: np.ndarray, alpha: float) -> dict[str, Any]:
    """PSI and KS test of one feature's live ``values`` against its reference entry
    (NaN, a gap, is left out: the missing rate is checked on its own)."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    live = np.sort(present)
    psi_value = psi(reference["bin_fractions"], sorted_bin_fractions(live, reference["bin_edges"]))
    statistic, pvalue = ks_test(live, np.sort(np.asarray(reference["sample"], dtype=float)))
    return {
        "psi": psi_value,
        "ks_statistic": statistic,
        "ks_pvalue": pvalue,
        "ks_significant": pvalue < alpha,
        "live_mean": float(np.mean(present)),
        "reference_mean": float(reference["mean"]),
        "status": combine(psi_value, pvalue < alpha),
    }
