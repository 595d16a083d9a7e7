"""The data plane: every operation of the API, free of any transport.

Handlers take a raw body (and the request id) and return the JSON answer with the model
version that computed it, raising petalflow's errors for the HTTP layer to map; the routes
and the ASGI endpoints only move bytes. Like MLServer's DataPlane, this is where behaviour
lives. Each handler reads the served model once, at its start (see ``lifecycle.served``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any, NamedTuple

import numpy as np
import orjson
from prometheus_client.registry import Collector

from petalflow.core.errors import ShadowNotConfiguredError, ShadowNotLoadedError, TooManyRowsError
from petalflow.monitoring.checks import Monitor
from petalflow.monitoring.shadow_report import shadow_report
from petalflow.observability.metrics import Telemetry
from petalflow.serving import columnar_request, scoring_protocol
from petalflow.serving.ignored_inputs import IgnoredInputs
from petalflow.serving.lifecycle.served import ServedModel, identity_of
from petalflow.serving.loading import LoadedModel
from petalflow.serving.request_models import RequestModels, parse
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


class Answer(NamedTuple):
    """A JSON answer, and the model version that computed it (the ``X-Model-Version``
    header and the access log's; None where no model answered)."""

    content: bytes
    model_version: str | None = None

    @property
    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The response headers it adds: ``X-Model-Version`` when a model answered."""
        version = self.model_version
        return () if version is None else ((b"x-model-version", version.encode()),)


class DataPlane:
    """The served model's operations: predict, batch, MLflow scoring, feedback, reports.

    ``served`` is replaced whole by a reload (``swap``); every operation reads it once.
    ``shadow`` (SHADOW_MODEL_URI) is offered every predicted request's rows.
    """

    __slots__ = ("ignored", "served", "settings", "shadow", "telemetry")

    def __init__(
        self,
        served: ServedModel,
        telemetry: Telemetry,
        settings: Settings,
        shadow: Shadow | None = None,
    ) -> None:
        self.served, self.shadow = served, shadow
        self.telemetry, self.settings = telemetry, settings
        self.ignored = IgnoredInputs(telemetry)

    def swap(self, served: ServedModel) -> ServedModel:
        """Serve ``served`` from the next request on (one reference assignment, atomic);
        returns the model it replaces. Requests already started finish on theirs."""
        previous, self.served = self.served, served
        return previous

    @property
    def monitor(self) -> Monitor:
        """The monitor of the served model (drift and performance of its version)."""
        return self.served.monitor

    @property
    def collectors(self) -> tuple[Collector, ...]:
        """The served model's monitoring gauges for /metrics."""
        return self.served.collectors

    def _score(self, served: ServedModel, rows: np.ndarray, request_id: str) -> Scored:
        """Predict, then log (O(1) per request), hand the rows to the shadow (O(1)) and
        count the predictions; a reused client-chosen id replays its logged answer instead."""
        start = time.perf_counter()
        client_id = type(request_id) is ClientRequestId
        if client_id:
            answered = served.monitor.answered(request_id, rows)
            if answered is not None:
                latency_ms = round((time.perf_counter() - start) * 1000, 3)
                labels, proba = list(answered.labels), np.asarray(answered.probabilities)
                return Scored(labels, proba, latency_ms, answered.model_version, answered.classes)
        labels, proba, codes = served.predictor.predict(rows)
        latency_ms = round((time.perf_counter() - start) * 1000, 3)  # microseconds
        served.monitor.record(request_id, rows, labels, proba, remember=client_id, codes=codes)
        if self.shadow is not None:
            self.shadow.offer(request_id, rows)
        if len(labels) == 1:
            self.telemetry.count_predictions(served.version, labels[0])
        else:  # one bincount, not a dict lookup per row
            counts = np.bincount(codes, minlength=len(served.classes)).tolist()
            for label, count in zip(served.classes, counts, strict=True):
                if count:
                    self.telemetry.count_predictions(served.version, label, count)
        return Scored(labels, proba, latency_ms, served.version, served.classes)

    def _check_rows(self, n: int, field: str) -> None:
        if n > self.settings.max_batch_rows:
            raise TooManyRowsError(field, n, self.settings.max_batch_rows)

    def predict(self, body: bytes, request_id: str) -> Answer:
        """POST /predict: one row -> label, probabilities, model version, latency."""
        served = self.served
        scored = self._score(served, served.models.parse_row(body), request_id)
        content = orjson.dumps(
            {
                "predicted_label": scored.labels[0],
                "class_probabilities": dict(
                    zip(scored.classes, scored.proba[0].tolist(), strict=True)
                ),
                "model_version": scored.model_version,
                "latency_ms": scored.latency_ms,
            }
        )
        return Answer(content, scored.model_version)

    def _batch_rows(self, models: RequestModels, body: bytes) -> tuple[np.ndarray, bool]:
        """The rows of a /predict/batch body, and whether it was columnar: vectorised
        checks, pydantic for errors; more than MAX_BATCH_ROWS rows are refused (413)."""
        payload, finite = _document(body)
        if columnar_request.is_columnar(payload):
            self._check_rows(columnar_request.row_count(payload), "data")
            return columnar_request.columnar_rows(payload, models, body, fast=finite), True
        if isinstance(payload, dict) and type(payload.get("instances")) is list:
            # Counted before any row is validated: pydantic would check (and report) them all.
            self._check_rows(len(payload["instances"]), "instances")
            if finite and list(payload) == ["instances"]:
                rows = models.fast_rows(payload["instances"])
                if rows is not None:
                    return rows, False
        batch: Any = parse(models.batch, body)  # its instances were counted above
        return models.rows_of(batch.instances), False

    def predict_batch(self, body: bytes, request_id: str) -> Answer:
        """POST /predict/batch: rows in request order, one model version and latency;
        a columnar body (columns, data) gets a columnar answer (labels, probabilities)."""
        served = self.served
        rows, columnar = self._batch_rows(served.models, body)
        scored = self._score(served, rows, request_id)
        if columnar:  # straight from numpy: no object per row
            answer: dict[str, Any] = {
                "labels": scored.labels,
                "classes": scored.classes,
                "probabilities": np.ascontiguousarray(scored.proba, dtype=np.float64),
            }
        else:
            classes = scored.classes
            answer = {
                "predictions": [
                    {
                        "predicted_label": label,
                        "class_probabilities": dict(zip(classes, p, strict=True)),
                    }
                    for label, p in zip(scored.labels, scored.proba.tolist(), strict=True)
                ]
            }
        answer.update(model_version=scored.model_version, latency_ms=scored.latency_ms)
        return Answer(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), scored.model_version)

    def invocations(self, body: bytes, request_id: str, media: str = "json") -> Answer:
        """POST /invocations: MLflow's scoring protocol (``media``: json, csv, parquet),
        answered as MLflow does; what it ignores is logged and counted."""
        served = self.served
        limit = self.settings.max_batch_rows
        rows, ignored = scoring_protocol.parse_payload(body, served.models, media, limit)
        self.ignored.note(ignored)
        self._check_rows(len(rows), "rows")
        scored = self._score(served, rows, request_id)
        return Answer(orjson.dumps({"predictions": scored.labels}), scored.model_version)

    def feedback(self, body: bytes, request_id: str) -> Answer:
        """POST /feedback: a ground-truth label joined to a logged prediction."""
        item = parse(FeedbackRequest, body)
        # The label is checked against the classes logged with the prediction: a reload
        # since may serve a model with other classes.
        monitor = self.served.monitor
        return Answer(orjson.dumps(monitor.feedback(item.request_id, item.true_label)))

    def shadow_report(self) -> dict[str, Any]:
        """GET /monitoring/shadow: the served model against the shadow, from the log."""
        if self.shadow is None:
            raise ShadowNotConfiguredError(
                "no shadow model is configured; set SHADOW_MODEL_URI (e.g. "
                "models:/NAME@challenger) to compare a second model on live traffic"
            )
        shadow = self.shadow.model
        if shadow is None:
            raise ShadowNotLoadedError(
                "the shadow model (SHADOW_MODEL_URI) could not be loaded; the server log says "
                "why, and when it is tried again"
            )
        self.shadow.drain()  # what this worker has queued is in the report, as in /drift
        return shadow_report(self.monitor, shadow)

    def model_info(self) -> dict[str, Any]:
        """GET /model: what is being served, and which registry entry it came from."""
        served = self.served
        loaded = served.loaded
        return {
            **served.identity(),
            "run_id": loaded.run_id,
            "sha256": loaded.sha256,
            "feature_names": loaded.feature_names,
            "class_names": loaded.class_names,
            "params": _shown_params(loaded.params),
            "metrics": loaded.metrics,
            "loaded_at": loaded.loaded_at,
            "fast_path": served.predictor.fast is not None,
            "shadow": None if self.shadow is None else _identity(self.shadow.model),
        }


def _identity(model: LoadedModel | None) -> dict[str, Any] | None:
    return None if model is None else identity_of(model)


def _shown_params(params: dict[str, Any]) -> dict[str, Any]:
    """The training flags as /model shows them: without the training machine's paths (the
    artifacts folder and tune's Optuna storage left out, a contract file by its name)."""
    shown = {k: v for k, v in params.items() if k not in ("artifacts_dir", "storage")}
    if isinstance(shown.get("dataset"), str):
        shown["dataset"] = PurePath(shown["dataset"]).name
    return shown


def _document(body: bytes) -> tuple[Any, bool]:
    """A /predict/batch body parsed (None if it is not JSON), and whether it is strict
    JSON: False when it parses only with ``NaN`` or ``Infinity`` read as numbers, which
    the fast paths must not see (pydantic refuses them, naming the value)."""
    try:
        return scoring_protocol.loads(body), True
    except ValueError:
        if b"NaN" not in body and b"Infinity" not in body:
            return None, False  # not JSON at all: pydantic names the error
    try:
        return scoring_protocol.loads(body, allow_inf_nan=True), False
    except ValueError:
        return None, False
