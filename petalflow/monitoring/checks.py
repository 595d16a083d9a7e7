"""Monitoring of the served model: prediction log, drift, live performance, feedback.

Everything is read from the shared SQLite prediction log, so every uvicorn worker
answers the same (and `python -m petalflow.monitor` computes the same report offline).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from petalflow.core.errors import MonitoringDisabledError
from petalflow.core.model_card import ModelCard
from petalflow.monitoring import drift, performance
from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader, Rows
from petalflow.monitoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)
_STATUS_VALUE = {drift.OK: 0, drift.WARN: 1, drift.ALERT: 2, drift.INSUFFICIENT_DATA: -1}


class Monitor:
    """Drift and performance of one served model over its logged predictions.

    ``log`` is the server's PredictionLog (records, reads, feedback), a
    PredictionLogReader (reads only: the CLI) or None (monitoring disabled); either
    log must be started or opened by the caller.
    """

    def __init__(
        self,
        model: ModelCard,
        log: PredictionLog | PredictionLogReader | None,
        settings: MonitoringSettings,
    ) -> None:
        self.model = model
        self.log = log
        self.settings = settings
        # Resolved once: ``record`` runs on every request.
        self._writable = log if isinstance(log, PredictionLog) else None

    def _require_log(self) -> PredictionLog | PredictionLogReader:
        if self.log is None:
            raise MonitoringDisabledError(
                "the prediction log is disabled (PREDICTION_LOG is empty); set it to a "
                "SQLite path to enable monitoring and feedback"
            )
        return self.log

    def record(self, request_id: str, rows: Rows, labels: Sequence[str], proba: Rows) -> None:
        """Queue one request's predictions (rows n x k, n labels, proba n x classes) for
        the log: one queue append, O(1) per request; nothing without a writable log."""
        log = self._writable
        if log is not None:
            model = self.model
            log.record(request_id, model.model_version, rows, labels, model.class_names, proba)

    def drift(self) -> dict[str, Any]:
        """Drift of the last DRIFT_WINDOW predictions of this model against training."""
        log = self._require_log()
        if not self.model.reference:
            return {
                "status": "unavailable",
                "detail": "the model has no reference_stats.json; retrain with this version",
            }
        log.flush()
        recent = log.recent(self.settings.drift_window, self.model.model_version)
        report = drift.drift_report(
            self.model.reference,
            recent.features,
            recent.labels,
            self.model.feature_names,
            min_samples=self.settings.drift_min_samples,
        )
        return {"model_version": self.model.model_version, **report}

    def performance(self) -> dict[str, Any]:
        """Live accuracy and macro F1 over labelled predictions, beside training's."""
        log = self._require_log()
        pairs = log.labelled(self.settings.performance_window, self.model.model_version)
        if "accuracy" not in self.model.metrics:
            return {
                "model_version": self.model.model_version,
                "status": "unavailable",
                "n_labelled": len(pairs),
                "live": None,
                "training": {},
                "detail": "the model has no training metrics (metrics.json); retrain it",
            }
        report = performance.performance_report(
            [t for t, _ in pairs],
            [p for _, p in pairs],
            self.model.metrics,
            margin=self.settings.accuracy_margin,
            min_labels=self.settings.performance_min_labels,
        )
        return {"model_version": self.model.model_version, **report}

    def feedback(self, request_id: str, true_label: str) -> dict[str, Any]:
        """Join a ground-truth label to a logged prediction (404/409/422 as errors)."""
        log = self._require_log()
        if not isinstance(log, PredictionLog):
            raise TypeError("feedback needs the server's PredictionLog; a reader cannot write")
        predicted = log.add_feedback(request_id, true_label, allowed_labels=self.model.class_names)
        return {
            "request_id": request_id,
            "true_label": true_label,
            "predicted_label": predicted,
            "correct": predicted == true_label,
        }


class MonitoringCollector(Collector):
    """Drift scores and live accuracy as Prometheus gauges, computed at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[GaugeMetricFamily]:
        if self.monitor.log is None:
            return []
        version = self.monitor.model.model_version
        psi = GaugeMetricFamily(
            "petalflow_feature_drift_psi", "PSI vs training", labels=["feature"]
        )
        ks = GaugeMetricFamily(
            "petalflow_feature_drift_ks_pvalue", "KS test p-value vs training", labels=["feature"]
        )
        status = GaugeMetricFamily(
            "petalflow_drift_status",
            "Drift status: -1 insufficient data, 0 ok, 1 warn, 2 alert",
            labels=["scope"],
        )
        report = self.monitor.drift()
        for name, values in (report.get("features") or {}).items():
            psi.add_metric([name], values["psi"])
            ks.add_metric([name], values["ks_pvalue"])
            status.add_metric([name], _STATUS_VALUE[values["status"]])
        status.add_metric(["overall"], _STATUS_VALUE.get(report["status"], -1))
        perf = self.monitor.performance()
        live = perf.get("live") or {}
        accuracy = GaugeMetricFamily(
            "petalflow_live_accuracy",
            "Accuracy over labelled predictions",
            labels=["model_version"],
        )
        f1 = GaugeMetricFamily(
            "petalflow_live_f1_macro",
            "Macro F1 over labelled predictions",
            labels=["model_version"],
        )
        labelled = GaugeMetricFamily(
            "petalflow_labelled_predictions",
            "Labelled predictions in the window",
            labels=["model_version"],
        )
        accuracy.add_metric([version], live.get("accuracy", float("nan")))
        f1.add_metric([version], live.get("f1_macro", float("nan")))
        labelled.add_metric([version], perf["n_labelled"])
        return [psi, ks, status, accuracy, f1, labelled]


def open_log(settings: MonitoringSettings) -> PredictionLog | None:
    """The prediction log named by PREDICTION_LOG, not started (the caller calls
    ``start()``, which opens the file), or None when it is disabled."""
    if not settings.prediction_log:
        return None
    return PredictionLog(settings.prediction_log, max_rows=settings.prediction_log_max_rows)
