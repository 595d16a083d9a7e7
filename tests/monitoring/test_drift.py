"""Drift report: thresholds, the combination rule, and the Iris acceptance checks."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from petalflow.core.reference import reference_stats
from petalflow.monitoring import drift
from petalflow.training.config import TrainConfig
from petalflow.training.data import FEATURE_NAMES, load_dataset, split_dataset
from petalflow.training.pipeline import build_pipeline

WINDOW = 500
SEEDS = range(20)
CONFIG = TrainConfig(
    seed=42,
    test_size=0.2,
    model="logreg",
    C=1.0,
    max_iter=1000,
    n_estimators=200,
    max_depth=None,
    artifacts_dir="a",
    experiment_name="iris",
    register_model=None,
    alias=None,
)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, dict[str, Any], Pipeline]:
    """The whole data set, the reference of the default training split, a fitted model."""
    X, y = load_dataset()
    split = split_dataset(X, y, 0.2, 42)
    model = build_pipeline(CONFIG).fit(split.X_train, split.y_train)
    return X, reference_stats(split.X_train, split.y_train), model


def traffic(
    iris: tuple[pd.DataFrame, dict[str, Any], Pipeline], seed: int, shift: float = 0.0
) -> dict[str, Any]:
    """The drift report of WINDOW rows drawn with replacement, petal_length + ``shift``."""
    X, reference, model = iris
    rng = np.random.default_rng(seed)
    window = X.iloc[rng.integers(0, len(X), WINDOW)].reset_index(drop=True)
    window["petal_length"] += shift
    labels = [str(label) for label in model.predict(window)]
    return drift.drift_report(reference, window.to_numpy(), labels, list(FEATURE_NAMES))


def test_drift_report_unshifted_iris_traffic_raises_no_alert(iris: Any) -> None:
    statuses = [traffic(iris, seed)["status"] for seed in SEEDS]
    assert set(statuses) <= {"ok", "warn", "alert"}
    assert statuses.count("alert") <= 1, statuses


def test_drift_report_unshifted_iris_traffic_stays_well_below_alert_thresholds(iris: Any) -> None:
    # The margin behind the acceptance test: PSI far below the alert threshold and KS far
    # from significance on every seed, not just "no alert".
    for seed in SEEDS:
        report = traffic(iris, seed)
        for name, feature in report["features"].items():
            assert feature["psi"] < drift.PSI_ALERT / 2, (seed, name, feature)
            assert not feature["ks_significant"], (seed, name, feature)
        assert report["prediction"]["psi"] < drift.PSI_WARN, (seed, report["prediction"])


@pytest.mark.parametrize("seed", SEEDS)
def test_drift_report_petal_length_shift_alerts(iris: Any, seed: int) -> None:
    report = traffic(iris, seed, shift=2.0)
    assert report["status"] == "alert"
    assert report["features"]["petal_length"]["status"] == "alert"
    assert report["features"]["sepal_width"]["status"] != "alert"


def test_drift_report_small_shift_alerts_at_half_a_centimetre(iris: Any) -> None:
    statuses = {
        traffic(iris, seed, shift=0.5)["features"]["petal_length"]["status"] for seed in SEEDS
    }
    assert statuses == {"alert"}


def test_drift_report_below_min_samples_gives_no_verdict(iris: Any) -> None:
    X, reference, _ = iris
    report = drift.drift_report(reference, X.to_numpy()[:99], ["setosa"] * 99, list(FEATURE_NAMES))
    assert report["status"] == "insufficient_data"
    assert report["window_size"] == 99
    assert report["min_samples"] == 100
    assert report["features"] is None
    assert report["prediction"] is None
    assert "99 predictions logged, 100 needed" in report["detail"]


def test_drift_report_min_samples_is_configurable(iris: Any) -> None:
    X, reference, model = iris
    labels = [str(label) for label in model.predict(X.iloc[:30])]
    report = drift.drift_report(
        reference, X.to_numpy()[:30], labels, list(FEATURE_NAMES), min_samples=30
    )
    assert report["status"] in {"ok", "warn", "alert"}
    assert set(report["features"]) == set(FEATURE_NAMES)


def test_drift_report_is_json_ready_with_thresholds(iris: Any) -> None:
    report = traffic(iris, 0)
    assert json.loads(json.dumps(report)) == report
    assert report["window_size"] == WINDOW
    assert report["thresholds"]["ks_alpha_corrected"] == pytest.approx(0.01 / 4)
    assert set(report["features"]["petal_width"]) >= {"psi", "ks_statistic", "ks_pvalue", "status"}
    assert set(report["prediction"]) >= {"psi", "chi2_pvalue", "status"}


def test_drift_report_rejects_mismatched_labels(iris: Any) -> None:
    X, reference, _ = iris
    with pytest.raises(ValueError, match="150 feature rows but 3 predicted labels"):
        drift.drift_report(reference, X.to_numpy(), ["setosa"] * 3, list(FEATURE_NAMES))


def test_drift_report_rejects_feature_missing_from_reference(iris: Any) -> None:
    X, reference, _ = iris
    with pytest.raises(ValueError, match=r"\['stem_length'\] are not in the reference"):
        drift.drift_report(
            reference, X.to_numpy(), ["setosa"] * 150, [*FEATURE_NAMES[:3], "stem_length"]
        )


def test_drift_report_prediction_shift_alerts(iris: Any) -> None:
    X, reference, _ = iris
    report = drift.drift_report(
        reference, X.to_numpy()[:WINDOW], ["setosa"] * len(X), list(FEATURE_NAMES)
    )
    assert report["prediction"]["status"] == "alert"
    assert report["prediction"]["live_distribution"]["setosa"] == 1.0
    assert report["status"] == "alert"


def test_psi_is_zero_for_identical_shares() -> None:
    assert drift.psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == pytest.approx(0.0)


def test_psi_smooths_empty_bins_with_epsilon() -> None:
    value = drift.psi([0.5, 0.5], [1.0, 0.0])
    smoothed = np.array([1.0, drift.PSI_EPSILON]) / (1 + drift.PSI_EPSILON)
    expected = float(np.sum((smoothed - 0.5) * np.log(smoothed / 0.5)))
    assert np.isfinite(value)
    assert value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("psi_value", "significant", "status"),
    [
        (0.0, False, "ok"),
        (0.0999, False, "ok"),
        (0.1, False, "warn"),
        (0.2499, True, "warn"),
        (0.25, False, "warn"),
        (5.0, False, "warn"),
        (0.0, True, "warn"),
        (0.25, True, "alert"),
    ],
)
def test_combine_applies_documented_thresholds(
    psi_value: float, significant: bool, status: str
) -> None:
    assert drift.combine(psi_value, significant) == status


def test_worst_orders_statuses() -> None:
    assert drift.worst(["ok", "warn", "ok"]) == "warn"
    assert drift.worst(["warn", "alert", "ok"]) == "alert"
    assert drift.worst([]) == "ok"
