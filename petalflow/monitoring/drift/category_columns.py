"""Drift of a category (or bool) feature: PSI over its categories plus an unseen bucket,
and a chi-square test of homogeneity against the reference counts, over present values.

Live values are encoded rows (``petalflow.core.codec``): a category is its index in the
contract's ``categories``, a bool is 0.0 / 1.0 (the categories ``false`` and ``true``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from petalflow.monitoring.drift.scores import combine, psi

BOOL_CATEGORIES = ("false", "true")


def reference_shares(
    entry: Mapping[str, Any], categories: Sequence[str], is_bool: bool = False
) -> np.ndarray:
    """The reference's share of each category among present values, then of the unseen
    bucket (reference categories the contract does not list: none for a model's own).

    A category entry's ``category_fractions`` are shares of all rows (gaps included), so
    they are renormalised; a bool feature's reference is numeric, and its mean over the
    present 0/1 values is the share of ``true``.
    """
    if is_bool:
        true = float(entry["mean"])
        return np.array([1.0 - true, true, 0.0])
    fractions = {str(k): float(v) for k, v in entry["category_fractions"].items()}
    shares = [fractions.pop(c, 0.0) for c in categories] + [sum(fractions.values())]
    found = np.asarray(shares, dtype=float)
    total = found.sum()
    return found / total if total > 0 else found


def live_counts(values: np.ndarray, n_categories: int) -> np.ndarray:
    """Counts of each category index among the present ``values`` (NaN left out), then
    of values that are no category's index (the unseen bucket)."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    known = (present >= 0) & (present < n_categories) & (present == np.floor(present))
    counts = np.bincount(present[known].astype(np.intp), minlength=n_categories)
    return np.append(counts, len(present) - counts.sum()).astype(float)


def category_drift(
    expected: np.ndarray,
    counts: np.ndarray,
    categories: Sequence[str],
    alpha: float,
    reference_present: int,
) -> dict[str, Any]:
    """PSI and chi-square test of live ``counts`` (categories, then unseen) against the
    reference ``expected`` shares (same layout) of ``reference_present`` training values.

    PSI is over the buckets either side has (one neither has carries no information).
    The test is two-sample, like KS: a chi-square test of homogeneity of the reference
    counts and the live counts (``scipy.stats.chi2_contingency``, no continuity
    correction), since the reference shares are themselves estimated from a sample,
    often smaller than the window. Without a reference size there is no test (p = 1).
    """
    n = float(counts.sum())
    active = (expected > 0) | (counts > 0)
    psi_value = psi(expected[active], counts[active] / n)
    statistic, pvalue = homogeneity_test(np.rint(expected * reference_present), counts)
    shares = counts / n
    return {
        "psi": psi_value,
        "chi2_statistic": statistic,
        "chi2_pvalue": pvalue,
        "chi2_significant": pvalue < alpha,
        "live_distribution": {c: float(s) for c, s in zip(categories, shares[:-1], strict=True)},
        "reference_distribution": {
            c: float(s) for c, s in zip(categories, expected[:-1], strict=True)
        },
        "unseen_share": float(shares[-1]),
        "status": combine(psi_value, pvalue < alpha),
    }


def homogeneity_test(reference_counts: np.ndarray, live_counts: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the chi-square test that both rows of counts come from one
    distribution, over the buckets either row has; (0, 1) when there is nothing to test
    (an empty row, or a single bucket)."""
    table = np.vstack([reference_counts, live_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or not (table.sum(axis=1) > 0).all():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)
