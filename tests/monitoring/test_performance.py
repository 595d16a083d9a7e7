"""Live performance report: accuracy and macro F1 against the training metrics."""

from __future__ import annotations

import json

import pytest

from petalflow.monitoring.performance import ACCURACY_MARGIN, performance_report

TRAINING = {"accuracy": 1.0, "f1_macro": 1.0, "log_loss": 0.05}


def labels(correct: int, wrong: int) -> tuple[list[str], list[str]]:
    """``correct`` right predictions and ``wrong`` setosa-for-virginica mistakes."""
    true = ["setosa", "versicolor"] * (correct // 2) + ["setosa"] * (correct % 2)
    return true + ["virginica"] * wrong, true + ["setosa"] * wrong


def test_performance_report_ok_within_margin() -> None:
    true, predicted = labels(19, 1)  # accuracy 0.95 = 1.0 - margin: not below it
    report = performance_report(true, predicted, TRAINING)
    assert report["status"] == "ok"
    assert report["live"]["accuracy"] == pytest.approx(0.95)
    assert report["accuracy_drop"] == pytest.approx(0.05)
    assert report["margin"] == ACCURACY_MARGIN == 0.05


def test_performance_report_alerts_beyond_margin() -> None:
    true, predicted = labels(18, 2)
    report = performance_report(true, predicted, TRAINING)
    assert report["status"] == "alert"
    assert report["live"]["accuracy"] == pytest.approx(0.9)
    assert report["training"] == {"accuracy": 1.0, "f1_macro": 1.0}


def test_performance_report_margin_is_configurable() -> None:
    true, predicted = labels(18, 2)
    assert performance_report(true, predicted, TRAINING, margin=0.15)["status"] == "ok"


def test_performance_report_macro_f1_matches_sklearn() -> None:
    true, predicted = labels(20, 4)
    report = performance_report(true, predicted, TRAINING)
    # setosa: precision 10/14, recall 1 -> 10/12; versicolor 1; virginica 0.
    assert report["live"]["f1_macro"] == pytest.approx((10 / 12 + 1 + 0) / 3)


def test_performance_report_below_min_labels_gives_no_verdict() -> None:
    true, predicted = labels(0, 19)
    report = performance_report(true, predicted, TRAINING)
    assert report["status"] == "insufficient_data"
    assert report["live"] is None
    assert "19 labelled predictions, 20 needed" in report["detail"]
    assert performance_report(true, predicted, TRAINING, min_labels=10)["status"] == "alert"


def test_performance_report_is_json_ready() -> None:
    true, predicted = labels(30, 3)
    report = performance_report(true, predicted, TRAINING)
    assert json.loads(json.dumps(report)) == report


def test_performance_report_requires_training_accuracy() -> None:
    true, predicted = labels(30, 0)
    with pytest.raises(ValueError, match="training metrics have no 'accuracy'"):
        performance_report(true, predicted, {"f1_macro": 1.0})


def test_performance_report_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 true labels but 1 predicted"):
        performance_report(["setosa", "setosa"], ["setosa"], TRAINING)
