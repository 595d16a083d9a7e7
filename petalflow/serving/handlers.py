"""The data plane: every operation of the API, free of any transport.

Handlers take a raw body (and the request id) and return the JSON answer, raising
petalflow's errors for the HTTP layer to map; the routes and the ASGI endpoints only
move bytes. Like MLServer's DataPlane, this is where behaviour lives.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson

from petalflow.core.errors import ShadowNotConfiguredError, TooManyRowsError, UnknownLabelError
from petalflow.monitoring.checks import Monitor, MonitoringCollector
from petalflow.monitoring.shadow_report import shadow_report
from petalflow.observability.metrics import CachedCollector, Telemetry
from petalflow.serving import scoring_protocol
from petalflow.serving.ignored_inputs import IgnoredInputs
from petalflow.serving.predictor import Predictor
from petalflow.serving.request_models import RequestModels, build_request_models, parse
from petalflow.serving.schemas import FeedbackRequest
from petalflow.serving.settings import Settings
from petalflow.serving.shadow import Shadow

logger = logging.getLogger(__name__)


class ClientRequestId(str):
    """A request id the client chose (X-Request-ID), not one the server generated: a
    reused one replays its logged answer, or is refused if the features differ."""

    __slots__ = ()


class Scored(NamedTuple):
    """One request's answer: labels, probabilities (n x classes) and who computed them."""

    labels: list[str]
    proba: np.ndarray
    latency_ms: float
    model_version: str
    classes: Sequence[str]


class DataPlane:
    """The served model's operations: predict, batch, MLflow scoring, feedback, reports."""

    __slots__ = (
        "collectors",
        "ignored",
        "models",
        "monitor",
        "predictor",
        "settings",
        "shadow",
        "telemetry",
        "version",
    )

    def __init__(
        self,
        predictor: Predictor,
        monitor: Monitor,
        telemetry: Telemetry,
        settings: Settings,
        shadow: Shadow | None = None,
    ) -> None:
        self.predictor, self.monitor, self.shadow = predictor, monitor, shadow
        self.telemetry, self.settings = telemetry, settings
        self.models: RequestModels = build_request_models(predictor.model.contract)
        self.version = predictor.model.model_version
        self.ignored = IgnoredInputs(telemetry)
        # Drift and accuracy gauges: computed at most every MONITORING_REFRESH_SECONDS.
        gauges = MonitoringCollector(monitor)
        refresh = settings.monitoring_refresh_seconds
        self.collectors = [] if monitor.log is None else [CachedCollector(gauges, refresh)]

    def _score(self, rows: np.ndarray, request_id: str) -> Scored:
        """Predict, then log (O(1) per request), hand the rows to the shadow (O(1)) and
        count the predictions; a reused client-chosen id replays its logged answer instead."""
        start = time.perf_counter()
        client_id = type(request_id) is ClientRequestId
        if client_id:
            answered = self.monitor.answered(request_id, rows)
            if answered is not None:
                latency_ms = round((time.perf_counter() - start) * 1000, 3)
                labels, proba = list(answered.labels), np.asarray(answered.probabilities)
                return Scored(labels, proba, latency_ms, answered.model_version, answered.classes)
        labels, proba = self.predictor.predict(rows)
        latency_ms = round((time.perf_counter() - start) * 1000, 3)  # microseconds
        self.monitor.record(request_id, rows, labels, proba, remember=client_id)
        if self.shadow is not None:
            self.shadow.offer(request_id, rows)
        if len(labels) == 1:
            self.telemetry.count_predictions(self.version, labels[0])
        else:
            for label, count in Counter(labels).items():
                self.telemetry.count_predictions(self.version, label, count)
        return Scored(labels, proba, latency_ms, self.version, self.predictor.classes)

    def _check_rows(self, n: int, field: str) -> None:
        if n > self.settings.max_batch_rows:
            raise TooManyRowsError(field, n, self.settings.max_batch_rows)

    def predict(self, body: bytes, request_id: str) -> bytes:
        """POST /predict: one row -> label, probabilities, model version, latency."""
        rows = self.models.parse_row(body)
        scored = self._score(rows, request_id)
        return orjson.dumps(
            {
                "predicted_label": scored.labels[0],
                "class_probabilities": dict(
                    zip(scored.classes, scored.proba[0].tolist(), strict=True)
                ),
                "model_version": scored.model_version,
                "latency_ms": scored.latency_ms,
            }
        )

    def _batch_rows(self, body: bytes) -> np.ndarray:
        """The rows of a /predict/batch body: vectorised checks, pydantic for errors."""
        try:
            payload = scoring_protocol.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and list(payload) == ["instances"]:
            rows = self.models.fast_rows(payload["instances"])
            if rows is not None:
                return rows
        batch: Any = parse(self.models.batch, body)
        return self.models.rows_of(batch.instances)

    def predict_batch(self, body: bytes, request_id: str) -> bytes:
        """POST /predict/batch: rows in request order, one model version and latency."""
        rows = self._batch_rows(body)
        self._check_rows(len(rows), "instances")
        scored = self._score(rows, request_id)
        classes = scored.classes
        predictions = [
            {"predicted_label": label, "class_probabilities": dict(zip(classes, p, strict=True))}
            for label, p in zip(scored.labels, scored.proba.tolist(), strict=True)
        ]
        answer = {"predictions": predictions, "model_version": scored.model_version}
        return orjson.dumps({**answer, "latency_ms": scored.latency_ms})

    def invocations(self, body: bytes, request_id: str, media: str = "json") -> bytes:
        """POST /invocations: MLflow's scoring protocol (``media``: json, csv, parquet),
        answered as MLflow does; what it ignores is logged and counted."""
        limit = self.settings.max_batch_rows
        rows, ignored = scoring_protocol.parse_payload(body, self.models, media, limit)
        self.ignored.note(ignored)
        self._check_rows(len(rows), "rows")
        return orjson.dumps({"predictions": self._score(rows, request_id).labels})

    def feedback(self, body: bytes, request_id: str) -> bytes:
        """POST /feedback: a ground-truth label joined to a logged prediction."""
        item = parse(FeedbackRequest, body)
        classes = self.predictor.classes
        if item.true_label not in classes:
            message = f"true_label: unknown label {item.true_label!r}; use one of {classes}"
            raise UnknownLabelError(
                message, [{"field": "true_label", "rule": "enum", "message": message}]
            )
        return orjson.dumps(self.monitor.feedback(item.request_id, item.true_label))

    def shadow_report(self) -> dict[str, Any]:
        """GET /monitoring/shadow: the served model against the shadow, from the log."""
        if self.shadow is None:
            raise ShadowNotConfiguredError(
                "no shadow model is configured; set SHADOW_MODEL_URI (e.g. "
                "models:/NAME@challenger) to compare a second model on live traffic"
            )
        self.shadow.drain()  # what this worker has queued is in the report, as in /drift
        return shadow_report(self.monitor, self.shadow.model)

    def model_info(self) -> dict[str, Any]:
        """GET /model: what is being served."""
        loaded = self.predictor.model
        return {
            "model_version": loaded.model_version,
            "run_id": loaded.run_id,
            "source": loaded.source,
            "sha256": loaded.sha256,
            "feature_names": loaded.feature_names,
            "class_names": loaded.class_names,
            "params": loaded.params,
            "metrics": loaded.metrics,
            "loaded_at": loaded.loaded_at,
            "fast_path": self.predictor.fast is not None,
        }
