"""The vocabulary every drift check shares: verdicts, thresholds, PSI and the combine rule.

The rules themselves are documented once, in the package docstring
(``petalflow.monitoring.drift``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np


class Status(StrEnum):
    """A verdict; members are ``str``, so JSON and comparisons see the plain value."""

    OK = "ok"
    WARN = "warn"
    ALERT = "alert"
    INSUFFICIENT_DATA = "insufficient_data"


OK, WARN, ALERT, INSUFFICIENT_DATA = Status.OK, Status.WARN, Status.ALERT, Status.INSUFFICIENT_DATA
_SEVERITY: dict[str, int] = {OK: 0, WARN: 1, ALERT: 2}

PSI_EPSILON = 1e-4
PSI_WARN = 0.1
PSI_ALERT = 0.25
# The family-wise alpha of the per-feature tests (KS, chi-square, missing rate), split
# evenly over all of them (Bonferroni).
KS_ALPHA = 0.01
CLASS_ALPHA = 0.01
# Absolute change of a nullable feature's missing rate (0.05 = 5 percentage points).
MISSING_WARN = 0.05
MISSING_ALERT = 0.10
MIN_SAMPLES = 100


def psi(
    expected: Sequence[float] | np.ndarray,
    actual: Sequence[float] | np.ndarray,
    epsilon: float = PSI_EPSILON,
) -> float:
    """Population stability index of ``actual`` shares against ``expected`` shares."""
    e = smooth(np.asarray(expected, dtype=float), epsilon)
    a = smooth(np.asarray(actual, dtype=float), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def smooth(shares: np.ndarray, epsilon: float = PSI_EPSILON) -> np.ndarray:
    """``shares`` with empty buckets given ``epsilon``, renormalised to sum to 1."""
    shares = np.where(shares > 0, shares, epsilon)
    return np.asarray(shares / shares.sum())


def combine(
    effect: float, significant: bool, warn: float = PSI_WARN, alert: float = PSI_ALERT
) -> Status:
    """``alert`` if ``effect`` >= ``alert`` and the test is significant, ``warn`` if either
    ``effect`` >= ``warn`` or the test is significant, else ``ok`` (PSI thresholds by
    default; the missing-rate check passes its own)."""
    if effect >= alert and significant:
        return ALERT
    if effect >= warn or significant:
        return WARN
    return OK


def worst(statuses: Sequence[str]) -> Status:
    """The most severe of ``ok``/``warn``/``alert`` (``ok`` for none)."""
    return Status(max(statuses, key=_SEVERITY.__getitem__, default=OK))
