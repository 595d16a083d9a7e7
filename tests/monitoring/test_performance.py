"""Live performance report: accuracy and macro F1 against the training metrics."""

from __future__ import annotations

import json
import logging

import pytest

from petalflow.monitoring.drift import Status
from petalflow.monitoring.performance import ACCURACY_MARGIN, MIN_LABELS, performance_report

TRAINING = {"accuracy": 1.0, "f1_macro": 1.0, "log_loss": 0.05}


def labels(correct: int, wrong: int) -> tuple[list[str], list[str]]:
    """``correct`` right predictions and ``wrong`` setosa-for-virginica mistakes."""
    true = ["setosa", "versicolor"] * (correct // 2) + ["setosa"] * (correct % 2)
    return true + ["virginica"] * wrong, true + ["setosa"] * wrong


def test_performance_report_ok_within_margin() -> None:
    true, predicted = labels(19, 1)  # accuracy 0.95 = 1.0 - margin: not below it
    report = performance_report(true, predicted, TRAINING)
    assert report["status"] == "ok"
    assert report["status"] is Status.OK
    assert report["live"]["accuracy"] == pytest.approx(0.95)
    assert report["accuracy_drop"] == pytest.approx(0.05)
    assert report["margin"] == ACCURACY_MARGIN == 0.05


def test_performance_report_alerts_beyond_margin() -> None:
    true, predicted = labels(18, 2)
    report = performance_report(true, predicted, TRAINING)
    assert report["status"] is Status.ALERT
    assert report["live"]["accuracy"] == pytest.approx(0.9)
    assert report["accuracy_drop"] == pytest.approx(0.1)
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
    assert report == {
        "n_labelled": 19,
        "min_labels": 20,
        "margin": 0.05,
        "training": {"accuracy": 1.0, "f1_macro": 1.0},
        "status": "insufficient_data",
        "detail": "19 labelled predictions, 20 needed for a performance verdict",
        "live": None,
        "accuracy_drop": None,
    }
    assert report["status"] is Status.INSUFFICIENT_DATA
    assert performance_report(true, predicted, TRAINING, min_labels=10)["status"] == "alert"


def test_performance_report_is_json_ready() -> None:
    true, predicted = labels(30, 3)
    report = performance_report(true, predicted, TRAINING)
    assert json.loads(json.dumps(report)) == report


def test_performance_report_requires_training_accuracy() -> None:
    true, predicted = labels(30, 0)
    with pytest.raises(
        ValueError, match=r"^training metrics have no 'accuracy'; pass the model's metrics\.json$"
    ):
        performance_report(true, predicted, {"f1_macro": 1.0})


def test_performance_report_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 true labels but 1 predicted"):
        performance_report(["setosa", "setosa"], ["setosa"], TRAINING)


def test_performance_report_hand_computed_full_report() -> None:
    true, predicted = labels(20, 4)  # 20 right of 24: 0.8333 < 0.9 - 0.05
    report = performance_report(true, predicted, {"accuracy": 0.9, "f1_macro": 0.8})
    assert report == {
        "n_labelled": 24,
        "min_labels": 20,
        "margin": 0.05,
        "training": {"accuracy": 0.9, "f1_macro": 0.8},
        "status": "alert",
        "live": {
            "accuracy": pytest.approx(20 / 24),
            # setosa: precision 10/14, recall 1 -> F1 10/12; versicolor 1; virginica 0.
            "f1_macro": pytest.approx((10 / 12 + 1) / 3),
        },
        "accuracy_drop": pytest.approx(0.9 - 20 / 24),
    }


@pytest.mark.parametrize(
    ("training_accuracy", "status"),
    [(0.88, "ok"), (0.8833, "ok"), (0.8834, "alert"), (0.95, "alert"), (0.5, "ok")],
)
def test_performance_report_alerts_only_below_training_minus_margin(
    training_accuracy: float, status: str
) -> None:
    # Live accuracy 20/24 = 0.8333...; alert when it is below training - 0.05.
    true, predicted = labels(20, 4)
    report = performance_report(true, predicted, {"accuracy": training_accuracy})
    assert report["status"] == status
    assert report["accuracy_drop"] == pytest.approx(training_accuracy - 20 / 24)


def test_performance_report_live_accuracy_above_training_is_ok_with_negative_drop() -> None:
    true, predicted = labels(20, 0)
    report = performance_report(true, predicted, {"accuracy": 0.9})
    assert report["status"] == "ok"
    assert report["accuracy_drop"] == pytest.approx(-0.1)
    assert report["live"] == {"accuracy": 1.0, "f1_macro": 1.0}


def test_performance_report_without_training_f1_reports_none() -> None:
    true, predicted = labels(20, 0)
    report = performance_report(true, predicted, {"accuracy": "0.97"})
    assert report["training"] == {"accuracy": 0.97, "f1_macro": None}


def test_performance_report_training_values_are_floats() -> None:
    true, predicted = labels(20, 0)
    report = performance_report(true, predicted, {"accuracy": 1, "f1_macro": "0.5"})
    assert report["training"] == {"accuracy": 1.0, "f1_macro": 0.5}
    assert type(report["training"]["accuracy"]) is float
    assert type(report["training"]["f1_macro"]) is float
    assert type(report["live"]["accuracy"]) is float
    assert type(report["live"]["f1_macro"]) is float


def test_performance_report_compares_labels_as_strings() -> None:
    true = [1, 2] * 10
    predicted = ["1", "2"] * 10
    report = performance_report(true, predicted, TRAINING)  # type: ignore[arg-type]
    assert report["live"] == {"accuracy": 1.0, "f1_macro": 1.0}


def test_performance_report_macro_f1_of_unpredicted_class_is_zero() -> None:
    # 10 virginica all predicted setosa, 10 setosa right: virginica precision 0/0 -> 0.
    true = ["setosa"] * 10 + ["virginica"] * 10
    predicted = ["setosa"] * 20
    report = performance_report(true, predicted, TRAINING)
    # setosa: precision 1/2, recall 1, F1 2/3; virginica: F1 0.
    assert report["live"]["f1_macro"] == pytest.approx((2 / 3 + 0) / 2)


@pytest.mark.parametrize(("n", "status"), [(19, "insufficient_data"), (20, "ok")])
def test_performance_report_verdict_starts_at_min_labels(n: int, status: str) -> None:
    true, predicted = labels(n, 0)
    assert MIN_LABELS == 20
    assert performance_report(true, predicted, TRAINING)["status"] == status


def test_performance_report_min_labels_is_configurable() -> None:
    true, predicted = labels(5, 0)
    report = performance_report(true, predicted, TRAINING, min_labels=5)
    assert report["min_labels"] == 5
    assert report["status"] == "ok"
    assert performance_report(true, predicted, TRAINING, min_labels=6)["status"] == (
        "insufficient_data"
    )


def test_performance_report_logs_a_warning_on_alert(caplog: pytest.LogCaptureFixture) -> None:
    true, predicted = labels(18, 2)
    with caplog.at_level(logging.INFO, logger="petalflow.monitoring.performance"):
        performance_report(true, predicted, TRAINING)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "live accuracy 0.900 is 0.100 below training accuracy 1.000 over 20 labels",
        )
    ]


def test_performance_report_logs_nothing_when_ok(caplog: pytest.LogCaptureFixture) -> None:
    true, predicted = labels(20, 0)
    with caplog.at_level(logging.INFO, logger="petalflow.monitoring.performance"):
        performance_report(true, predicted, TRAINING)
    assert caplog.records == []
