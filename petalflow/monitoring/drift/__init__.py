"""Data drift of live traffic against the training reference (``reference_stats.json``).

Each feature is checked by its contract type (``petalflow.core.contract``); live rows
are encoded rows (``petalflow.core.codec``: a category as its index, a bool as 0/1, a
gap as NaN). Every check pairs an effect size with a significance test, and one rule
combines them: ``alert`` when the effect reaches its alert threshold AND the test is
significant; otherwise ``warn`` when either fires; ``ok`` otherwise.

* **Numeric** (float, int), over present values (gaps left out): PSI (population
  stability index) over the reference quantile bins, and a two-sample Kolmogorov-Smirnov
  test (``scipy.stats.ks_2samp``) against the reference sample. Bins empty on either
  side get a share of ``PSI_EPSILON`` = 1e-4 (then renormalised), so that the log ratio
  stays finite; an emptied 10 % bin then adds about 0.69. PSI < 0.1 is stable,
  0.1 <= PSI < 0.25 a moderate shift, PSI >= 0.25 a major shift.
* **Category**, over present values: PSI over the contract's categories plus an unseen
  bucket (a value that is no category's index), smoothed the same way, and a chi-square
  test of homogeneity (``scipy.stats.chi2_contingency``, no continuity correction) of
  the reference counts against the live counts; buckets neither side has are left out.
  The test is two-sample, like KS, because the reference shares are estimates from the
  training split, often smaller than the window: a goodness-of-fit test that takes them
  as exact warns on 9 % of 500-row windows of unshifted traffic with penguins' island
  shares and 275 training rows (45 % at 2,000 rows; simulated, alpha 0.01 / 11), the
  two-sample test on 0.1 %, as it should. The server refuses unknown categories, so
  the unseen bucket stays empty for its own traffic; it matters for the CLI over an old
  log or one another model wrote (``unseen_share`` in the report). PSI thresholds as
  for numbers.
* **Bool**: a two-category column (``false``, ``true``), checked as a category; its
  reference is the numeric entry training writes, whose mean is the share of ``true``.
  A KS test on 0/1 values is a single step (all ties) and quantile bins of 0/1 collapse,
  so the two shares are what can drift.
* **Missing rate**, for every nullable feature whatever its type: the live share of
  gaps against training's, a two-proportion test (``missing_values``: the 'N-1'
  chi-square, Fisher's exact test for small counts) and the absolute shift as the effect,
  ``MISSING_WARN`` = 0.05 (5 points) and ``MISSING_ALERT`` = 0.10. With penguins' 4 %
  gaps in sex, a 500-row window's rate varies by about 1.5 points around training's, so
  chance rarely reaches 5; 10 points more (or fewer) gaps is a broken feed, not noise.
  A feature's status is the worse of its distribution check and its missing-rate check.

Significance: every test above (one per feature, one more per nullable feature) uses
p < ``KS_ALPHA`` / number of tests (Bonferroni: 0.01 / 4 = 0.0025 for Iris, 0.01 / 11
for penguins' 6 features, 5 of them nullable); ``thresholds.ks_alpha_corrected`` in the
report is that per-test alpha. PSI alone is noisy on small windows (100 rows resampled
from Iris reach PSI 0.4-0.8 by chance, and PSI >= 0.1 in most such windows: expect
"warn" there, use 500) and a test alone against a 120-row reference with tied 0.1 cm
values is coarse, so an alert needs both to agree.

The predicted-class distribution: PSI over classes and a chi-square goodness-of-fit
test (``scipy.stats.chisquare``) against the training class shares, alert when
PSI >= 0.25 AND p < ``CLASS_ALPHA`` = 0.01, warn when either fires.

The overall status is the worst of all. Below ``min_samples`` (default 100) live rows the
report has ``"status": "insufficient_data"`` and no verdict; a feature with fewer present
values than that gets no distribution verdict (``psi`` null, a ``detail``), only its
missing-rate check.

Measured on 500 predictions resampled from the 150 Iris rows against the default training
split: seeds 0-19 all ``ok``; seeds 0-999 no alert and 0.6 % warn (largest PSI 0.11,
smallest KS p 0.33). With petal_length + 2 cm every window alerts (PSI >= 4.9, KS p < 1e-17);
+0.5 cm also always alerts; +0.2 cm always warns and alerts in 12 % of windows.

Penguins (500 rows resampled from the 344 rows of the table, a logreg model's labels,
against the default 275-row training split): seeds 0-199 no alert and 2 % warn, seeds
0-999 no alert and 1.4 % warn, every warn from the predicted-class check; no feature was
ever flagged (largest PSI 0.076 numeric, 0.028 category; smallest p: KS 0.047,
chi-square 0.035, missing rate 0.002 against 0.01 / 11; largest missing-rate shift 3.2
points). With island fixed to any one of its three values, every window alerts on
island, and only there. Sex nulled in another 15 % of rows: alert in 72 % of windows,
warn in the rest; in another 8 %: warn in 37 %.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from petalflow.core.contract import FeatureSpec
from petalflow.monitoring.drift.columns import Column, column_drift, columns_of
from petalflow.monitoring.drift.numeric_columns import feature_drift
from petalflow.monitoring.drift.scores import (
    ALERT,
    CLASS_ALPHA,
    INSUFFICIENT_DATA,
    KS_ALPHA,
    MIN_SAMPLES,
    MISSING_ALERT,
    MISSING_WARN,
    OK,
    PSI_ALERT,
    PSI_EPSILON,
    PSI_WARN,
    WARN,
    Status,
    combine,
    psi,
    smooth,
    worst,
)

__all__ = [
    "ALERT",
    "CLASS_ALPHA",
    "INSUFFICIENT_DATA",
    "KS_ALPHA",
    "MIN_SAMPLES",
    "MISSING_ALERT",
    "MISSING_WARN",
    "OK",
    "PSI_ALERT",
    "PSI_EPSILON",
    "PSI_WARN",
    "WARN",
    "Column",
    "Status",
    "column_drift",
    "columns_of",
    "combine",
    "drift_report",
    "feature_drift",
    "prediction_drift",
    "psi",
    "thresholds",
    "worst",
]

logger = logging.getLogger(__name__)


def thresholds(n_tests: int) -> dict[str, float]:
    """The thresholds in force, as reported beside every verdict; ``n_tests`` is the
    number of per-feature tests the family-wise alpha is split over."""
    return {
        "psi_warn": PSI_WARN,
        "psi_alert": PSI_ALERT,
        "psi_epsilon": PSI_EPSILON,
        "ks_alpha": KS_ALPHA,
        "ks_alpha_corrected": KS_ALPHA / max(n_tests, 1),
        "class_alpha": CLASS_ALPHA,
        "missing_rate_warn": MISSING_WARN,
        "missing_rate_alert": MISSING_ALERT,
    }


def prediction_drift(
    class_distribution: Mapping[str, float], predicted_labels: Sequence[str]
) -> dict[str, Any]:
    """PSI and chi-square goodness-of-fit of predicted classes against training shares."""
    counted: Counter[str] = Counter()
    for label, k in Counter(predicted_labels).items():  # one pass in C, then per class
        counted[str(label)] += k
    classes = sorted(set(class_distribution) | set(counted))
    counts = np.array([counted[c] for c in classes], dtype=float)
    expected = np.array([class_distribution.get(c, 0.0) for c in classes], dtype=float)
    n = len(predicted_labels)
    psi_value = psi(expected, counts / n)
    # Classes the training split never had get the PSI epsilon, so the test stays defined.
    chi = stats.chisquare(counts, smooth(expected, PSI_EPSILON) * n)
    pvalue = float(chi.pvalue)
    return {
        "psi": psi_value,
        "chi2_statistic": float(chi.statistic),
        "chi2_pvalue": pvalue,
        "chi2_significant": pvalue < CLASS_ALPHA,
        "live_distribution": {c: float(k / n) for c, k in zip(classes, counts, strict=True)},
        "reference_distribution": {c: float(class_distribution.get(c, 0.0)) for c in classes},
        "status": combine(psi_value, pvalue < CLASS_ALPHA),
    }


def drift_report(
    reference: Mapping[str, Any],
    features: np.ndarray,
    predicted_labels: Sequence[str],
    feature_names: Sequence[str],
    min_samples: int = MIN_SAMPLES,
    *,
    specs: Sequence[FeatureSpec] | None = None,
) -> dict[str, Any]:
    """JSON-ready drift report of a window of live ``features`` (n x len(feature_names),
    encoded rows), each checked by its type in ``specs`` (the model contract's features,
    in the same order; without them every feature is numeric)."""
    matrix = np.asarray(features, dtype=float).reshape(-1, len(feature_names))
    n = matrix.shape[0]
    if len(predicted_labels) != n:
        raise ValueError(f"{n} feature rows but {len(predicted_labels)} predicted labels")
    columns = columns_of(reference, feature_names, specs)
    n_tests = len(columns) + sum(column.nullable for column in columns)
    report: dict[str, Any] = {
        "window_size": n,
        "min_samples": min_samples,
        "reference_size": int(reference.get("n_samples", 0)),
        "thresholds": thresholds(n_tests),
    }
    if n < min_samples:
        report.update(
            status=INSUFFICIENT_DATA,
            detail=f"{n} prediction{'' if n == 1 else 's'} logged, "
            f"{min_samples} needed for a drift verdict",
            features=None,
            prediction=None,
        )
        return report
    alpha = KS_ALPHA / n_tests
    by_column = np.ascontiguousarray(matrix.T)  # one copy; strided columns are slow to scan
    per_feature = {
        column.name: column_drift(
            column,
            reference["features"][column.name],
            by_column[j],
            alpha,
            min_samples=min_samples,
            reference_size=report["reference_size"],
        )
        for j, column in enumerate(columns)
    }
    prediction = prediction_drift(reference["class_distribution"], predicted_labels)
    status = worst([f["status"] for f in per_feature.values()] + [prediction["status"]])
    if status != OK:
        flagged = [k for k, v in per_feature.items() if v["status"] != OK]
        logger.info("drift %s over %d predictions; features flagged: %s", status, n, flagged)
    report.update(status=status, features=per_feature, prediction=prediction)
    return report
