"""The monitor report's overall verdict: the worst of drift and performance."""

from __future__ import annotations

import pytest

from petalflow.monitoring.report import overall_status


@pytest.mark.parametrize(
    ("drift", "performance", "overall"),
    [
        ("warn", "ok", "warn"),  # a warning was reported as "overall: ok"
        ("ok", "warn", "warn"),
        ("warn", "alert", "alert"),
        ("alert", "insufficient_data", "alert"),
        ("warn", "insufficient_data", "warn"),
        ("ok", "ok", "ok"),
        ("ok", "unavailable", "ok"),
        ("insufficient_data", "unavailable", "insufficient_data"),
        ("insufficient_data", "insufficient_data", "insufficient_data"),
    ],
)
def test_overall_status_is_the_worst_verdict(drift: str, performance: str, overall: str) -> None:
    assert overall_status(drift, performance) == overall
