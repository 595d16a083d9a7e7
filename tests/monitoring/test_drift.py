"""Drift report: thresholds, the combination rule, and the Iris acceptance checks."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
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
    dataset="iris",
)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, dict[str, Any], Pipeline]:
    """The whole data set, the reference of the default training split, a fitted model."""
    X, y = load_dataset()
    split = split_dataset(X, y, 0.2, 42)
    model = build_pipeline(CONFIG).fit(split.X_train, split.y_train)
    return X, reference_stats(split.X_train, split.y_train), model


_ROW_LABELS: dict[tuple[int, float], np.ndarray] = {}


def _row_labels(model: Pipeline, X: pd.DataFrame, shift: float) -> np.ndarray:
    """The model's label for each of the 150 rows (petal_length + ``shift``), cached."""
    key = (id(model), shift)
    if key not in _ROW_LABELS:
        shifted = X.copy()
        shifted["petal_length"] += shift
        _ROW_LABELS[key] = np.asarray([str(label) for label in model.predict(shifted)])
    return _ROW_LABELS[key]


def traffic(
    iris: tuple[pd.DataFrame, dict[str, Any], Pipeline], seed: int, shift: float = 0.0
) -> dict[str, Any]:
    """The drift report of WINDOW rows drawn with replacement, petal_length + ``shift``.

    Rows are predicted one by one, so a window's labels are the labels of its rows.
    """
    X, reference, model = iris
    rows = np.random.default_rng(seed).integers(0, len(X), WINDOW)
    window = X.to_numpy()[rows]
    window[:, list(FEATURE_NAMES).index("petal_length")] += shift
    labels = _row_labels(model, X, shift)[rows].tolist()
    return drift.drift_report(reference, window, labels, list(FEATURE_NAMES))


def test_drift_report_unshifted_iris_traffic_is_ok_on_seeds_0_to_19(iris: Any) -> None:
    statuses = [traffic(iris, seed)["status"] for seed in SEEDS]
    assert statuses == ["ok"] * len(SEEDS)


@pytest.mark.slow
def test_drift_report_unshifted_iris_traffic_matches_documented_rate_on_1000_seeds(
    iris: Any,
) -> None:
    # The module docstring and README: seeds 0-999 raise no alert and 0.6 % warn
    # (largest feature PSI 0.11, smallest KS p 0.33).
    reports = [traffic(iris, seed) for seed in range(1000)]
    statuses = [report["status"] for report in reports]
    assert statuses.count("alert") == 0
    assert statuses.count("warn") == 6
    assert statuses.count("ok") == 994
    features = [f for report in reports for f in report["features"].values()]
    assert round(max(f["psi"] for f in features), 2) == 0.11
    assert round(min(f["ks_pvalue"] for f in features), 2) == 0.33


def test_drift_report_unshifted_iris_traffic_stays_well_below_alert_thresholds(iris: Any) -> None:
    # The margin behind the acceptance test: PSI far below the alert threshold and KS far
    # from significance on every seed, not just "no alert".
    for seed in SEEDS:
        report = traffic(iris, seed)
        for name, feature in report["features"].items():
            assert feature["psi"] < drift.PSI_ALERT / 2, (seed, name, feature)
            assert feature["ks_significant"] is False, (seed, name, feature)
        assert report["prediction"]["psi"] < drift.PSI_WARN, (seed, report["prediction"])


@pytest.mark.parametrize("seed", SEEDS)
def test_drift_report_petal_length_shift_alerts(iris: Any, seed: int) -> None:
    report = traffic(iris, seed, shift=2.0)
    assert report["status"] == "alert"
    assert {name: f["status"] for name, f in report["features"].items()} == {
        "sepal_length": "ok",
        "sepal_width": "ok",
        "petal_length": "alert",
        "petal_width": "ok",
    }


def test_drift_report_small_shift_alerts_at_half_a_centimetre(iris: Any) -> None:
    statuses = [
        traffic(iris, seed, shift=0.5)["features"]["petal_length"]["status"] for seed in SEEDS
    ]
    assert statuses == ["alert"] * len(SEEDS)


@pytest.mark.parametrize("n", [0, 1, 99])
def test_drift_report_below_min_samples_gives_no_verdict(iris: Any, n: int) -> None:
    X, reference, _ = iris
    report = drift.drift_report(reference, X.to_numpy()[:n], ["setosa"] * n, list(FEATURE_NAMES))
    assert report == {
        "window_size": n,
        "min_samples": 100,
        "reference_size": 120,
        "thresholds": drift.thresholds(4),
        "status": "insufficient_data",
        "detail": {
            0: "0 predictions logged, 100 needed for a drift verdict",
            1: "1 prediction logged, 100 needed for a drift verdict",
            99: "99 predictions logged, 100 needed for a drift verdict",
        }[n],
        "features": None,
        "prediction": None,
    }
    assert report["status"] is drift.Status.INSUFFICIENT_DATA


def test_drift_report_min_samples_is_configurable(iris: Any) -> None:
    # The first 30 rows are all setosa: small petals and a one-class prediction mix.
    X, reference, model = iris
    labels = [str(label) for label in model.predict(X.iloc[:30])]
    report = drift.drift_report(
        reference, X.to_numpy()[:30], labels, list(FEATURE_NAMES), min_samples=30
    )
    assert report["min_samples"] == 30
    assert report["status"] == "alert"
    assert report["features"]["petal_length"]["status"] == "alert"
    assert report["prediction"]["status"] == "alert"
    assert report["prediction"]["live_distribution"] == {
        "setosa": 1.0,
        "versicolor": 0.0,
        "virginica": 0.0,
    }


def test_drift_report_is_json_ready_with_thresholds(iris: Any) -> None:
    report = traffic(iris, 0)
    assert json.loads(json.dumps(report)) == report
    assert json.dumps(report["status"]) == '"ok"'
    assert report["window_size"] == WINDOW
    assert report["reference_size"] == 120
    assert report["thresholds"]["ks_alpha_corrected"] == pytest.approx(0.01 / 4)
    assert set(report) == {
        "window_size",
        "min_samples",
        "reference_size",
        "thresholds",
        "status",
        "features",
        "prediction",
    }
    assert set(report["features"]["petal_width"]) == {
        "kind",
        "psi",
        "ks_statistic",
        "ks_pvalue",
        "ks_significant",
        "live_mean",
        "reference_mean",
        "status",
    }
    assert set(report["prediction"]) == {
        "psi",
        "chi2_statistic",
        "chi2_pvalue",
        "chi2_significant",
        "live_distribution",
        "reference_distribution",
        "status",
    }


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
    report = drift.drift_report(reference, X.to_numpy(), ["setosa"] * len(X), list(FEATURE_NAMES))
    assert report["prediction"]["status"] == "alert"
    assert report["prediction"]["live_distribution"]["setosa"] == 1.0
    assert report["status"] == "alert"


# --- A synthetic reference whose every number is known by hand -------------------------
# Four features, each with reference bins (-inf, 0.1], (0.1, 0.2], ..., (0.9, inf) of 10 %
# each and a 1,000-point evenly spaced reference sample on (0, 1); two classes, half each.
EDGES = [round(0.1 * k, 1) for k in range(1, 10)]
REF_SAMPLE = (np.arange(1000) + 0.5) / 1000
NAMES = ["f1", "f2", "f3", "f4"]


def synthetic_reference() -> dict[str, Any]:
    entry = {
        "bin_edges": EDGES,
        "bin_fractions": [0.1] * 10,
        "mean": 0.5,
        "std": 0.29,
        "sample": REF_SAMPLE.tolist(),
    }
    return {
        "n_samples": 1000,
        "features": {name: dict(entry) for name in NAMES},
        "class_distribution": {"x": 0.5, "y": 0.5},
    }


def matching(n: int) -> np.ndarray:
    """``n`` evenly spaced values on (0, 1): 10 % per bin, KS p close to 1."""
    return (np.arange(n) + 0.5) / n


def squeezed(per_bin: int, offset: float) -> np.ndarray:
    """``per_bin`` values in each bin, all in its top ``0.1 - offset``: PSI 0, KS D = offset."""
    return np.concatenate(
        [
            0.1 * k + offset + (0.1 - offset) * (np.arange(per_bin) + 0.5) / per_bin
            for k in range(10)
        ]
    )


def window(first: np.ndarray, n_features: int = 4) -> np.ndarray:
    """``first`` as feature f1, evenly spaced values for the other features."""
    columns = [first] + [matching(len(first))] * (n_features - 1)
    return np.column_stack(columns)


def balanced(n: int) -> list[str]:
    return ["x", "y"] * (n // 2) + ["x"] * (n % 2)


def test_drift_report_ks_pvalue_between_corrected_and_raw_alpha_is_not_significant() -> None:
    # Bonferroni: with 4 features the KS test needs p < 0.01 / 4 = 0.0025, so a p-value of
    # about 0.005 (significant at the raw 0.01) must not count, and PSI is exactly 0.
    live = squeezed(50, 0.094)
    pvalue = stats.ks_2samp(live, REF_SAMPLE).pvalue
    assert drift.KS_ALPHA / 4 < pvalue < drift.KS_ALPHA  # the case this test is about
    report = drift.drift_report(synthetic_reference(), window(live), balanced(500), NAMES)
    f1 = report["features"]["f1"]
    assert f1["ks_pvalue"] == pytest.approx(pvalue, rel=1e-9)
    assert f1["ks_statistic"] == pytest.approx(stats.ks_2samp(live, REF_SAMPLE).statistic)
    assert f1["psi"] == pytest.approx(0.0, abs=1e-12)
    assert f1["ks_significant"] is False
    assert f1["status"] == "ok"
    assert report["status"] == "ok"
    assert report["thresholds"]["ks_alpha_corrected"] == 0.0025


def test_drift_report_same_pvalue_is_significant_for_a_single_feature() -> None:
    # One feature: the corrected alpha is the raw 0.01, and p ~ 0.005 is significant.
    live = squeezed(50, 0.094)
    pvalue = stats.ks_2samp(live, REF_SAMPLE).pvalue
    assert pvalue < drift.KS_ALPHA
    report = drift.drift_report(synthetic_reference(), window(live, 1), balanced(500), ["f1"])
    f1 = report["features"]["f1"]
    assert f1["ks_significant"] is True
    assert f1["status"] == "warn"  # significant but PSI 0: warn, not alert
    assert report["status"] == "warn"
    assert report["thresholds"]["ks_alpha_corrected"] == 0.01


def test_drift_report_pvalue_below_corrected_alpha_warns() -> None:
    live = squeezed(200, 0.094)  # 2,000 rows: the same shape, far smaller p
    pvalue = stats.ks_2samp(live, REF_SAMPLE).pvalue
    assert pvalue < drift.KS_ALPHA / 4
    report = drift.drift_report(synthetic_reference(), window(live), balanced(2000), NAMES)
    assert report["features"]["f1"]["ks_pvalue"] == pytest.approx(pvalue, rel=1e-9)
    assert report["features"]["f1"]["ks_significant"] is True
    assert {name: f["status"] for name, f in report["features"].items()} == {
        "f1": "warn",
        "f2": "ok",
        "f3": "ok",
        "f4": "ok",
    }
    assert report["prediction"]["status"] == "ok"
    assert report["status"] == "warn"


def test_drift_report_logs_flagged_features(caplog: pytest.LogCaptureFixture) -> None:
    live = squeezed(200, 0.094)
    with caplog.at_level(logging.INFO, logger="petalflow.monitoring.drift"):
        drift.drift_report(synthetic_reference(), window(live), balanced(2000), NAMES)
    assert [r.getMessage() for r in caplog.records] == [
        "drift warn over 2000 predictions; features flagged: ['f1']"
    ]


def test_drift_report_logs_nothing_when_ok(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="petalflow.monitoring.drift"):
        report = drift.drift_report(
            synthetic_reference(), window(matching(500)), balanced(500), NAMES
        )
    assert report["status"] == "ok"
    assert caplog.records == []


@pytest.mark.parametrize(("n", "status"), [(99, "insufficient_data"), (100, "ok")])
def test_drift_report_verdict_starts_at_exactly_min_samples(n: int, status: str) -> None:
    report = drift.drift_report(synthetic_reference(), window(matching(n)), balanced(n), NAMES)
    assert report["window_size"] == n
    assert report["status"] == status


def test_drift_report_accepts_a_flat_row_major_window() -> None:
    rows = window(matching(200))
    flat = drift.drift_report(synthetic_reference(), rows.ravel(), balanced(200), NAMES)
    assert flat == drift.drift_report(synthetic_reference(), rows, balanced(200), NAMES)
    assert flat["window_size"] == 200


def test_drift_report_coerces_numbers_given_as_text() -> None:
    # Rows read back as text (e.g. SQLite TEXT columns) are numbers all the same.
    rows = window(squeezed(200, 0.094))
    as_text = [[repr(float(v)) for v in row] for row in rows]
    report = drift.drift_report(synthetic_reference(), as_text, balanced(2000), NAMES)  # type: ignore[arg-type]
    assert report == drift.drift_report(synthetic_reference(), rows, balanced(2000), NAMES)


def test_drift_report_reference_size_defaults_to_zero() -> None:
    reference = synthetic_reference()
    del reference["n_samples"]
    report = drift.drift_report(reference, window(matching(10)), balanced(10), NAMES)
    assert report["reference_size"] == 0


def test_feature_drift_hand_computed_psi_and_scipy_ks() -> None:
    # All 100 live values in the lowest bin: live shares [1, 0 x 9] smoothed to
    # [1, 1e-4 x 9] / 1.0009 against 0.1 everywhere.
    entry = synthetic_reference()["features"]["f1"]
    values = np.linspace(0.01, 0.1, 100)
    result = drift.feature_drift(entry, values, alpha=0.0025)
    live = np.array([1.0] + [1e-4] * 9) / (1 + 9e-4)
    expected_psi = float(np.sum((live - 0.1) * np.log(live / 0.1)))
    ks = stats.ks_2samp(values, REF_SAMPLE)
    assert result == {
        "psi": pytest.approx(expected_psi, rel=1e-12),
        "ks_statistic": pytest.approx(ks.statistic),
        "ks_pvalue": pytest.approx(ks.pvalue, rel=1e-9),
        "ks_significant": True,
        "live_mean": pytest.approx(0.055),
        "reference_mean": 0.5,
        "status": "alert",
    }


def test_feature_drift_significance_is_strictly_below_alpha() -> None:
    entry = synthetic_reference()["features"]["f1"]
    live = squeezed(50, 0.094)
    pvalue = float(stats.ks_2samp(live, REF_SAMPLE).pvalue)
    at_alpha = drift.feature_drift(entry, live, alpha=pvalue)
    assert (at_alpha["ks_significant"], at_alpha["status"]) == (False, "ok")
    above = drift.feature_drift(entry, live, alpha=pvalue * 1.000001)
    assert (above["ks_significant"], above["status"]) == (True, "warn")


def test_prediction_drift_significance_is_strictly_below_class_alpha(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 33 x / 67 y against 0.25 / 0.75: PSI ~ 0.03, so the chi-square test alone decides.
    labels = ["x"] * 33 + ["y"] * 67
    pvalue = float(stats.chisquare([33, 67], [25, 75]).pvalue)
    monkeypatch.setattr(drift, "CLASS_ALPHA", pvalue)
    at_alpha = drift.prediction_drift({"x": 0.25, "y": 0.75}, labels)
    assert (at_alpha["chi2_significant"], at_alpha["status"]) == (False, "ok")
    monkeypatch.setattr(drift, "CLASS_ALPHA", pvalue * 1.000001)
    above = drift.prediction_drift({"x": 0.25, "y": 0.75}, labels)
    assert (above["chi2_significant"], above["status"]) == (True, "warn")


def test_prediction_drift_hand_computed_one_class_window() -> None:
    result = drift.prediction_drift({"x": 0.5, "y": 0.5}, ["x"] * 100)
    live = np.array([1.0, 1e-4]) / (1 + 1e-4)
    expected_psi = float(np.sum((live - 0.5) * np.log(live / 0.5)))
    chi = stats.chisquare([100, 0], [50, 50])  # statistic 100
    assert result == {
        "psi": pytest.approx(expected_psi, rel=1e-12),
        "chi2_statistic": pytest.approx(100.0),
        "chi2_pvalue": pytest.approx(chi.pvalue, rel=1e-9),
        "chi2_significant": True,
        "live_distribution": {"x": 1.0, "y": 0.0},
        "reference_distribution": {"x": 0.5, "y": 0.5},
        "status": "alert",
    }


def test_prediction_drift_class_unseen_in_training_gets_epsilon_share() -> None:
    # 60 x, 30 y, 10 z against training shares x 0.6, y 0.4 and no z.
    result = drift.prediction_drift({"x": 0.6, "y": 0.4}, ["x"] * 60 + ["y"] * 30 + ["z"] * 10)
    expected_shares = np.array([0.6, 0.4, 1e-4]) / (1 + 1e-4)
    observed = np.array([60.0, 30.0, 10.0])
    chi = stats.chisquare(observed, expected_shares * 100)
    live = np.array([0.6, 0.3, 0.1])
    expected_psi = float(np.sum((live - expected_shares) * np.log(live / expected_shares)))
    assert result["live_distribution"] == {"x": 0.6, "y": 0.3, "z": 0.1}
    assert result["reference_distribution"] == {"x": 0.6, "y": 0.4, "z": 0.0}
    assert result["psi"] == pytest.approx(expected_psi, rel=1e-12)
    assert result["chi2_statistic"] == pytest.approx(chi.statistic, rel=1e-12)
    assert result["chi2_pvalue"] == pytest.approx(chi.pvalue, rel=1e-9)
    assert result["chi2_significant"] is True
    assert result["status"] == "alert"


def test_prediction_drift_matching_mix_is_ok() -> None:
    result = drift.prediction_drift({"x": 0.25, "y": 0.75}, ["x"] * 25 + ["y"] * 75)
    assert result["psi"] == pytest.approx(0.0, abs=1e-15)
    assert result["chi2_statistic"] == pytest.approx(0.0, abs=1e-12)
    assert result["chi2_pvalue"] == pytest.approx(1.0)
    assert result["chi2_significant"] is False
    assert result["status"] == "ok"


def test_prediction_drift_moderate_mix_shift_warns() -> None:
    # 33 x / 67 y against 0.25 / 0.75: chi-square 16/25 + 64/75 ~ 3.41, p ~ 0.065 (not
    # significant); PSI 0.08 ln(1.32) + -0.08 ln(67/75) ~ 0.0312: ok. 40 / 60 warns by
    # chi-square (p ~ 5e-4) with PSI ~ 0.107 >= 0.1 but < 0.25.
    ok = drift.prediction_drift({"x": 0.25, "y": 0.75}, ["x"] * 33 + ["y"] * 67)
    assert ok["chi2_statistic"] == pytest.approx(64 / 25 + 64 / 75)
    assert ok["status"] == "ok"
    warn = drift.prediction_drift({"x": 0.25, "y": 0.75}, ["x"] * 40 + ["y"] * 60)
    assert warn["chi2_statistic"] == pytest.approx(225 / 25 + 225 / 75)
    assert warn["psi"] == pytest.approx(0.15 * np.log(0.4 / 0.25) - 0.15 * np.log(0.6 / 0.75))
    assert warn["status"] == "warn"


@pytest.mark.parametrize(
    ("expected", "actual", "value"),
    [
        ([0.25, 0.25, 0.5], [0.25, 0.25, 0.5], 0.0),
        # (0.6 - 0.5) ln(0.6 / 0.5) + (0.4 - 0.5) ln(0.4 / 0.5)
        ([0.5, 0.5], [0.6, 0.4], 0.1 * np.log(1.2) - 0.1 * np.log(0.8)),
        ([0.1, 0.9], [0.9, 0.1], 0.8 * np.log(9) * 2),
        # Unnormalised counts are normalised first: [2, 2] is [0.5, 0.5].
        ([2.0, 2.0], [3.0, 2.0], 0.1 * np.log(1.2) - 0.1 * np.log(0.8)),
    ],
)
def test_psi_hand_computed(expected: list[float], actual: list[float], value: float) -> None:
    assert drift.psi(expected, actual) == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_psi_smooths_empty_bins_with_epsilon() -> None:
    value = drift.psi([0.5, 0.5], [1.0, 0.0])
    smoothed = np.array([1.0, 1e-4]) / (1 + 1e-4)
    expected = float(np.sum((smoothed - 0.5) * np.log(smoothed / 0.5)))
    assert value == pytest.approx(expected, rel=1e-12)
    assert drift.PSI_EPSILON == 1e-4


def test_psi_epsilon_is_configurable() -> None:
    smoothed = np.array([1.0, 0.01]) / 1.01
    expected = float(np.sum((smoothed - 0.5) * np.log(smoothed / 0.5)))
    assert drift.psi([0.5, 0.5], [1.0, 0.0], epsilon=0.01) == pytest.approx(expected, rel=1e-12)


def test_psi_emptied_ten_percent_bin_adds_about_0_69() -> None:
    # The docstring's figure: one of ten 10 % bins emptied, its share spread evenly.
    value = drift.psi([0.1] * 10, [0.0] + [1 / 9] * 9)
    assert value == pytest.approx(0.69, abs=0.05)


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
    result = drift.combine(psi_value, significant)
    assert result == status
    assert isinstance(result, drift.Status)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["ok", "warn", "ok"], "warn"),
        (["warn", "alert", "ok"], "alert"),
        (["alert", "warn"], "alert"),
        (["ok"], "ok"),
        ([], "ok"),
    ],
)
def test_worst_orders_statuses(statuses: list[str], expected: str) -> None:
    result = drift.worst(statuses)
    assert result == expected
    assert result is drift.Status(expected)


def test_thresholds_report_bonferroni_corrected_alpha() -> None:
    assert drift.thresholds(4) == {
        "psi_warn": 0.1,
        "psi_alert": 0.25,
        "psi_epsilon": 1e-4,
        "ks_alpha": 0.01,
        "ks_alpha_corrected": 0.0025,
        "class_alpha": 0.01,
        "missing_rate_warn": 0.05,
        "missing_rate_alert": 0.1,
    }
    assert drift.thresholds(1)["ks_alpha_corrected"] == 0.01
    assert drift.thresholds(0)["ks_alpha_corrected"] == 0.01
    assert drift.thresholds(5)["ks_alpha_corrected"] == pytest.approx(0.002)


def test_status_is_a_str_enum_with_the_json_strings() -> None:
    assert [s.value for s in drift.Status] == ["ok", "warn", "alert", "insufficient_data"]
    assert tuple(drift.Status) == (drift.OK, drift.WARN, drift.ALERT, drift.INSUFFICIENT_DATA)
    assert drift.OK is drift.Status.OK
    assert json.dumps([drift.Status.WARN, drift.ALERT]) == '["warn", "alert"]'
    assert f"{drift.Status.INSUFFICIENT_DATA}" == "insufficient_data"


def test_module_constants_are_the_documented_values() -> None:
    assert (drift.PSI_WARN, drift.PSI_ALERT, drift.KS_ALPHA, drift.CLASS_ALPHA) == (
        0.1,
        0.25,
        0.01,
        0.01,
    )
    assert drift.MIN_SAMPLES == 100
    assert (drift.MISSING_WARN, drift.MISSING_ALERT) == (0.05, 0.1)
