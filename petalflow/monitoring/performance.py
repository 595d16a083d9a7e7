"""Live model performance from labelled feedback, beside the training metrics.

Status: ``insufficient_data`` below ``min_labels`` (default 20) labelled predictions;
``alert`` when live accuracy < training accuracy - ``ACCURACY_MARGIN`` (0.05, i.e. more
than 5 accuracy points below the held-out accuracy of training); ``ok`` otherwise.
Macro F1 is reported for context but does not decide the status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from petalflow.monitoring.drift import Status

logger = logging.getLogger(__name__)

ACCURACY_MARGIN = 0.05
MIN_LABELS = 20


def performance_report(
    true_labels: Sequence[str],
    predicted_labels: Sequence[str],
    training_metrics: Mapping[str, Any],
    margin: float = ACCURACY_MARGIN,
    min_labels: int = MIN_LABELS,
) -> dict[str, Any]:
    """JSON-ready report: live accuracy and macro F1 against ``training_metrics``.

    ``training_metrics`` is metrics.json of the serving model (needs ``accuracy``;
    ``f1_macro`` is reported when present).
    """
    if len(true_labels) != len(predicted_labels):
        raise ValueError(f"{len(true_labels)} true labels but {len(predicted_labels)} predicted")
    if "accuracy" not in training_metrics:
        raise ValueError("training metrics have no 'accuracy'; pass the model's metrics.json")
    training_accuracy = float(training_metrics["accuracy"])
    training_f1 = training_metrics.get("f1_macro")
    training = {
        "accuracy": training_accuracy,
        "f1_macro": None if training_f1 is None else float(training_f1),
    }
    n = len(true_labels)
    report: dict[str, Any] = {
        "n_labelled": n,
        "min_labels": min_labels,
        "margin": margin,
        "training": training,
    }
    if n < min_labels:
        report.update(
            status=Status.INSUFFICIENT_DATA,
            detail=f"{n} labelled predictions, {min_labels} needed for a performance verdict",
            live=None,
            accuracy_drop=None,
        )
        return report
    true = [str(label) for label in true_labels]
    predicted = [str(label) for label in predicted_labels]
    accuracy = float(accuracy_score(true, predicted))
    f1 = float(f1_score(true, predicted, average="macro", zero_division=0))
    drop = training_accuracy - accuracy
    status = Status.ALERT if accuracy < training_accuracy - margin else Status.OK
    if status == Status.ALERT:
        logger.warning(
            "live accuracy %.3f is %.3f below training accuracy %.3f over %d labels",
            accuracy,
            drop,
            training_accuracy,
            n,
        )
    report.update(status=status, live={"accuracy": accuracy, "f1_macro": f1}, accuracy_drop=drop)
    return report
