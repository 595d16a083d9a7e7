"""Monitoring of the served model: prediction log, drift, live performance, feedback.

Everything is read from the shared SQLite prediction log, so every uvicorn worker
answers the same (and `python -m petalflow.monitor` computes the same report offline).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from petalflow.core.errors import (
    MonitoringDisabledError,
    PredictionLogUnavailableError,
    PredictionNotFoundError,
    PredictionNotLoggedError,
    RequestIdConflictError,
)
from petalflow.core.model_card import ModelCard
from petalflow.monitoring import drift, performance
from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader, Rows
from petalflow.monitoring.prediction_log.encoding import QueuedRequest
from petalflow.monitoring.prediction_log.health import HealthObserver, reason_of
from petalflow.monitoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")
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

    def require_log(self) -> PredictionLog | PredictionLogReader:
        """The log; MonitoringDisabledError (503) when PREDICTION_LOG is empty."""
        if self.log is None:
            raise MonitoringDisabledError(
                "the prediction log is disabled (PREDICTION_LOG is empty); set it to a "
                "SQLite path to enable monitoring and feedback"
            )
        return self.log

    def record(
        self,
        request_id: str,
        rows: Rows,
        labels: Sequence[str],
        proba: Rows,
        remember: bool = False,
        codes: np.ndarray | None = None,
    ) -> None:
        """Queue one request's predictions (rows n x k, n labels, proba n x classes) for
        the log: one queue append, O(1) per request; nothing without a writable log.
        ``remember``: a client-chosen request id, checked by ``answered`` when reused.
        ``codes``: the labels' positions in the contract's classes, if known."""
        log = self._writable
        if log is not None:
            model = self.model
            log.record(
                request_id,
                model.model_version,
                rows,
                labels,
                model.contract.classes,  # one list per model: the encoder caches its JSON
                proba,
                codes=codes,
                remember=remember,
            )

    def answered(self, request_id: str, rows: np.ndarray) -> QueuedRequest | None:
        """The request already answered under the client-chosen ``request_id``, to replay
        (None if the id is new); RequestIdConflictError if it had other features."""
        log = self._writable
        if log is None:
            return None
        try:
            found = self.read(lambda: log.lookup(request_id))
        except PredictionLogUnavailableError:
            return None  # cannot tell: predictions are still served
        if found is None:
            return None
        # equal_nan: a null (NaN) in the same place is the same request.
        if not np.array_equal(np.asarray(found.features, dtype=float), rows, equal_nan=True):
            raise RequestIdConflictError(
                f"request id {request_id!r} (X-Request-ID) was already used for a prediction "
                "with other features; send a new, unique X-Request-ID with each request "
                "(reuse one only to retry the same request, which replays its answer)"
            )
        return found

    def read(self, read: Callable[[], T]) -> T:
        """``read()`` on the log; a log that cannot be read is a 503 saying why."""
        try:
            return read()
        except sqlite3.Error as exc:
            reason = reason_of(exc)
            if self._writable is not None:
                self._writable.health.fail(reason, exc)
            raise PredictionLogUnavailableError(
                f"the prediction log cannot be read ({reason}: {exc}); predictions are "
                "still served; see petalflow_prediction_log_up in /metrics and the server log"
            ) from None

    def log_health(self) -> dict[str, Any] | None:
        """The prediction log's health block (the server's log only)."""
        return None if self._writable is None else self._writable.health.report()

    def drift(self) -> dict[str, Any]:
        """Drift of the last DRIFT_WINDOW predictions of this model against training."""
        log = self.require_log()
        if not self.model.reference:
            return {
                "status": "unavailable",
                "detail": "the model has no reference_stats.json; retrain with this version",
                "prediction_log": self.log_health(),
            }
        log.flush(timeout=1.0)  # a locked log: report what is written, not wait for it
        version = self.model.model_version
        recent = self.read(lambda: log.recent(self.settings.drift_window, version))
        report = drift.drift_report(
            self.model.reference,
            recent.features,
            recent.labels,
            self.model.feature_names,
            min_samples=self.settings.drift_min_samples,
            specs=self.model.contract.features,
        )
        return {"model_version": version, **report, "prediction_log": self.log_health()}

    def performance(self) -> dict[str, Any]:
        """Live accuracy and macro F1 over labelled predictions, beside training's."""
        log = self.require_log()
        version = self.model.model_version
        pairs = self.read(lambda: log.labelled(self.settings.performance_window, version))
        if "accuracy" not in self.model.metrics:
            return {
                "model_version": self.model.model_version,
                "status": "unavailable",
                "n_labelled": len(pairs),
                "live": None,
                "training": {},
                "detail": "the model has no training metrics (metrics.json); retrain it",
                "prediction_log": self.log_health(),
            }
        report = performance.performance_report(
            [t for t, _ in pairs],
            [p for _, p in pairs],
            self.model.metrics,
            margin=self.settings.accuracy_margin,
            min_labels=self.settings.performance_min_labels,
        )
        return {"model_version": version, **report, "prediction_log": self.log_health()}

    def feedback(self, request_id: str, true_label: str) -> dict[str, Any]:
        """Join a ground-truth label to a logged prediction (404/409/422 as errors)."""
        log = self.require_log()
        if not isinstance(log, PredictionLog):
            raise TypeError("feedback needs the server's PredictionLog; a reader cannot write")
        try:
            predicted = self.read(lambda: log.add_feedback(request_id, true_label))
        except PredictionNotFoundError:
            self._not_logged(log, request_id)
            raise
        return {
            "request_id": request_id,
            "true_label": true_label,
            "predicted_label": predicted,
            "correct": predicted == true_label,
        }

    @staticmethod
    def _not_logged(log: PredictionLog, request_id: str) -> None:
        """Raise PredictionNotLoggedError if the log dropped ``request_id`` or is failing."""
        health = log.health
        base = request_id.rpartition(":")[0]
        reason = health.why_dropped(request_id) or (base and health.why_dropped(base))
        if reason:
            raise PredictionNotLoggedError(
                f"prediction {request_id!r} was answered but not logged ({reason}), so it "
                "cannot take feedback; see petalflow_prediction_log_dropped_total in /metrics"
            )
        if not health.up:
            raise PredictionNotLoggedError(
                f"no logged prediction has request id {request_id!r}, and the prediction log "
                f"is degraded ({health.reason} since {health.report()['degraded_since']}): it "
                "may have been dropped, or still be queued; retry when the log has recovered"
            )


class MonitoringCollector(Collector):
    """Drift scores and live accuracy as Prometheus gauges, computed at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """The gauges; none when the log is off or cannot be read (then
        ``petalflow_prediction_log_up`` is 0: /metrics never fails because of the log)."""
        if self.monitor.log is None:
            return []
        try:
            return self._gauges()
        except PredictionLogUnavailableError:
            return []

    def _gauges(self) -> list[GaugeMetricFamily]:
        version = self.monitor.model.model_version
        perf = self.monitor.performance()
        live = perf.get("live") or {}
        accuracy = _gauge("live_accuracy", "Accuracy over labelled predictions", "model_version")
        f1 = _gauge("live_f1_macro", "Macro F1 over labelled predictions", "model_version")
        labelled = _gauge(
            "labelled_predictions", "Labelled predictions in the window", "model_version"
        )
        accuracy.add_metric([version], live.get("accuracy", float("nan")))
        f1.add_metric([version], live.get("f1_macro", float("nan")))
        labelled.add_metric([version], perf["n_labelled"])
        return [*self._drift_gauges(), accuracy, f1, labelled]

    def _drift_gauges(self) -> list[GaugeMetricFamily]:
        """Per feature: PSI (every kind), the KS p-value (numeric) or chi-square p-value
        (category, bool), the live and training missing rates (nullable), the status."""
        psi = _gauge("feature_drift_psi", "PSI vs training", "feature")
        ks = _gauge("feature_drift_ks_pvalue", "KS test p-value vs training", "feature")
        chi2 = _gauge(
            "feature_drift_chi2_pvalue",
            "Chi-square test p-value of a category or bool feature vs training",
            "feature",
        )
        missing = _gauge(
            "feature_missing_rate",
            "Share of missing values of a nullable feature: live window or training split",
            "feature",
            "data",
        )
        status = _gauge(
            "drift_status", "Drift status: -1 insufficient data, 0 ok, 1 warn, 2 alert", "scope"
        )
        report = self.monitor.drift()
        for name, values in (report.get("features") or {}).items():
            if values.get("psi") is not None:
                psi.add_metric([name], values["psi"])
                if values["kind"] == "numeric":
                    ks.add_metric([name], values["ks_pvalue"])
                else:
                    chi2.add_metric([name], values["chi2_pvalue"])
            if "missing_rate" in values:
                missing.add_metric([name, "live"], values["missing_rate"])
                missing.add_metric([name, "training"], values["reference_missing_rate"])
            status.add_metric([name], _STATUS_VALUE[values["status"]])
        status.add_metric(["overall"], _STATUS_VALUE.get(report["status"], -1))
        return [psi, ks, chi2, missing, status]


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    """The gauge family ``petalflow_<name>``."""
    return GaugeMetricFamily(f"petalflow_{name}", documentation, labels=list(labels))


def open_log(
    settings: MonitoringSettings, observer: HealthObserver | None = None
) -> PredictionLog | None:
    """The prediction log named by PREDICTION_LOG, not started (the caller calls
    ``start()``, which opens the file), or None when it is disabled; ``observer`` is
    told about its health (the server's metrics)."""
    if not settings.prediction_log:
        return None
    return PredictionLog(
        settings.prediction_log,
        max_rows=settings.prediction_log_max_rows,
        on_damage=settings.prediction_log_on_damage,
        observer=observer,
    )
