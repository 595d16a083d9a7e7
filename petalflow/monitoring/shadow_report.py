"""The shadow comparison: how a shadow model's answers compare with the primary's.

Read from the prediction log (so every worker answers the same): rows both answered,
how often they agree, the primary-vs-shadow label matrix, and over labelled feedback both
models' accuracy and macro F1. ``python -m petalflow promote --prediction-log`` uses the
same numbers as evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from petalflow.core.model_card import ModelCard
from petalflow.monitoring.checks import Monitor
from petalflow.monitoring.prediction_log.comparison import Labelled

logger = logging.getLogger(__name__)


def scores(true_labels: Sequence[str], predicted: Sequence[str]) -> dict[str, float] | None:
    """Accuracy and macro F1 (over the labels present, as /monitoring/performance), or
    None without labels."""
    if not true_labels:
        return None
    return {
        "accuracy": float(accuracy_score(true_labels, predicted)),
        "f1_macro": float(f1_score(true_labels, predicted, average="macro", zero_division=0)),
    }


def matrix_labels(primary_classes: Sequence[str], shadow_classes: Sequence[str]) -> list[str]:
    """The primary's classes, then those only the shadow has (classes may differ)."""
    return [*primary_classes, *(c for c in shadow_classes if c not in primary_classes)]


def comparison_report(
    primary: Sequence[str],
    shadow: Sequence[str],
    labelled: Sequence[Labelled],
    labels: Sequence[str],
) -> dict[str, Any]:
    """JSON-ready comparison of paired labels: ``primary[i]`` and ``shadow[i]`` answer the
    same row; ``labelled`` rows carry the truth as well; ``labels`` order the matrix."""
    if len(primary) != len(shadow):
        raise ValueError(f"{len(primary)} primary labels but {len(shadow)} shadow labels")
    n = len(primary)
    agreed = sum(p == s for p, s in zip(primary, shadow, strict=True))
    counts = confusion_matrix(primary, shadow, labels=list(labels)) if n else None
    truth = [row.true_label for row in labelled]
    return {
        "rows_compared": n,
        "agreement_rate": agreed / n if n else None,
        "label_matrix": {
            "labels": list(labels),
            # rows: the primary's label, columns: the shadow's
            "counts": [[0] * len(labels) for _ in labels] if counts is None else counts.tolist(),
        },
        "labelled": {
            "n_labelled": len(truth),
            "primary": scores(truth, [row.primary for row in labelled]),
            "shadow": scores(truth, [row.shadow for row in labelled]),
        },
    }


def shadow_report(monitor: Monitor, shadow: ModelCard) -> dict[str, Any]:
    """GET /monitoring/shadow: the served model against ``shadow`` over the log's newest
    SHADOW_WINDOW compared rows and PERFORMANCE_WINDOW labelled ones."""
    log = monitor.require_log()
    log.flush(timeout=1.0)  # a locked log: report what is written, not wait for it
    ours, theirs = monitor.model.model_version, shadow.model_version
    settings = monitor.settings
    primary, shadowed = monitor.read(
        lambda: log.shadow_compared(settings.shadow_window, ours, theirs)
    )
    labelled = monitor.read(lambda: log.shadow_labelled(settings.performance_window, ours, theirs))
    labels = matrix_labels(monitor.model.class_names, shadow.class_names)
    return {
        "primary_version": ours,
        "shadow_version": theirs,
        **comparison_report(primary, shadowed, labelled, labels),
        "prediction_log": monitor.log_health(),
    }
