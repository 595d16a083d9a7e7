"""Shift of a nullable feature's missing rate: the live share of gaps against training's.

Both rates come from samples (the training split is one too, often a few hundred rows),
so the test compares two proportions rather than testing the live rate against a known
one: Campbell's recommendation for 2 x 2 tables (Statistics in Medicine 26, 2007) is the
'N-1' chi-square test when every expected cell count is at least 1, and Fisher's exact
test (two-sided, Irwin's rule, as ``scipy.stats.fisher_exact``) otherwise. The chi-square
branch is closed-form, so a 100,000-row window costs microseconds; Fisher's test, which
takes milliseconds at that size, is left to the small counts where it is needed.
"""

from __future__ import annotations

import math
from typing import Any

from scipy import stats

from petalflow.monitoring.drift.scores import MISSING_ALERT, MISSING_WARN, combine


def two_proportion_pvalue(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that ``k1`` of ``n1`` and ``k2`` of ``n2`` share one proportion."""
    total, gaps = n1 + n2, k1 + k2
    if n1 == 0 or n2 == 0 or gaps == 0 or gaps == total:
        return 1.0  # nothing to compare, or both sides all gaps / no gaps alike
    smallest_expected = min(gaps, total - gaps) * min(n1, n2) / total
    if smallest_expected < 1:
        return float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    # 'N-1' chi-square: (N - 1)(ad - bc)^2 / (row and column totals); 1 degree of freedom,
    # whose survival function is erfc(sqrt(x / 2)). Integers keep the product exact.
    cross = k1 * (n2 - k2) - k2 * (n1 - k1)
    statistic = (total - 1) * cross**2 / (n1 * n2 * gaps * (total - gaps))
    return math.erfc(math.sqrt(statistic / 2))


def missing_drift(
    gaps: int, n: int, reference_rate: float, reference_size: int, alpha: float
) -> dict[str, Any]:
    """Missing rate of ``gaps`` in ``n`` live rows against the reference rate of a
    training split of ``reference_size`` rows; ``missing_status`` by the combine rule on
    the absolute shift (MISSING_WARN / MISSING_ALERT) and the test at ``alpha``."""
    rate = gaps / n if n else 0.0
    reference_gaps = round(reference_rate * reference_size)
    pvalue = two_proportion_pvalue(reference_gaps, reference_size, gaps, n)
    shift = rate - reference_rate
    return {
        "missing_rate": rate,
        "reference_missing_rate": float(reference_rate),
        "missing_rate_shift": shift,
        "missing_pvalue": pvalue,
        "missing_significant": pvalue < alpha,
        "missing_status": combine(abs(shift), pvalue < alpha, MISSING_WARN, MISSING_ALERT),
    }
