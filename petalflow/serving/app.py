"""The inference API: an app factory that takes settings (and optionally a loaded model).

Domain errors are mapped to HTTP status codes in one place: ``_ERROR_STATUS``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from petalflow.core.errors import PetalflowError, UnknownLabelError
from petalflow.monitoring.checks import Monitor, MonitoringCollector, open_log
from petalflow.observability.metrics import CONTENT_TYPE, Telemetry
from petalflow.serving import scoring_protocol as invocations
from petalflow.serving.http_errors import (
    ERROR_RESPONSES,
    MONITORING_RESPONSES,
    ApiError,
    install_error_handlers,
    json_body,
    parse,
)
from petalflow.serving.loading import LoadedModel, load_model
from petalflow.serving.middleware import RequestContextMiddleware
from petalflow.serving.predictor import Predictor
from petalflow.serving.schemas import (
    DriftReport,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    InvocationsResponse,
    ModelResponse,
    PerformanceReport,
    PredictBatchRequest,
    PredictBatchResponse,
    PredictRequest,
    PredictResponse,
    fast_rows,
)
from petalflow.serving.settings import Settings
from petalflow.training.data import FEATURE_NAMES

logger = logging.getLogger(__name__)


def json_response(content: Any) -> Response:
    """A 200 JSON response serialized with orjson (hot paths; values are always finite)."""
    return Response(orjson.dumps(content), media_type="application/json")


# Bodies above this size (~3,000 rows: ~10 ms of parsing and scoring with logreg, ~20 ms
# with a 200-tree forest) are handled in a worker thread. Below it the loop does the work
# itself, other clients waiting meanwhile: the thread hand-off and the GIL contention it
# brings cost more than the batch (1,000-row batches: ~1.5x the req/s on the loop).
_OFFLOAD_BYTES = 256 * 1024


class _Serving:
    """What the lifespan loaded, read by the routes.

    Not on ``app.state``: Starlette's State answers through ``__getattr__`` after a failed
    lookup, about a microsecond per attribute on the /predict hot path.
    """

    __slots__ = ("monitor", "predictor")
    predictor: Predictor
    monitor: Monitor


def create_app(settings: Settings, model: LoadedModel | None = None) -> FastAPI:
    """Build the API. The model is loaded once, in the lifespan, unless one is given."""
    telemetry = Telemetry()
    serving = _Serving()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            loaded = model or load_model(settings.model_uri, settings.artifacts_dir)
            predictor = Predictor(loaded, use_fast_path=settings.fast_path)
            log = open_log(settings)
        except Exception as exc:
            logger.debug("start-up failed", exc_info=True)
            known = isinstance(exc, (PetalflowError, OSError, sqlite3.Error))
            logger.error("cannot start: %s", exc if known else f"{type(exc).__name__}: {exc}")
            raise
        serving.predictor, serving.monitor = predictor, Monitor(loaded, log, settings)
        app.state.model_version = loaded.model_version  # for the access log (middleware)
        telemetry.model_info.labels(loaded.model_version, loaded.source).set(1)
        logger.info("serving model %s from %s", loaded.model_version, loaded.source)
        writer = None if log is None else asyncio.create_task(log.write_from_loop())
        try:
            yield
        finally:
            if writer is not None:
                writer.cancel()
                try:
                    await writer
                except asyncio.CancelledError:
                    pass
                except Exception:  # the thread has written what the loop did not
                    logger.exception("the prediction log's event-loop writer failed")
            if log is not None:
                log.close()

    # FastAPI's OpenTelemetry hooks look up the environment on every request; petalflow
    # exports its own Prometheus metrics, so they are off.
    no_otel = TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    app = FastAPI(title="petalflow", version="1", lifespan=lifespan, telemetry=no_otel)
    app.state.settings = settings
    app.state.telemetry = telemetry
    install_error_handlers(app)

    def score(rows: np.ndarray, request_id: str) -> tuple[list[str], np.ndarray, float]:
        """Predict, then log (O(1) per request) and count the predictions."""
        predictor: Predictor = serving.predictor
        start = time.perf_counter()
        proba = predictor.proba(rows)
        latency_ms = (time.perf_counter() - start) * 1000
        labels = predictor.labels(proba)
        serving.monitor.record(request_id, rows, labels, proba)
        version = predictor.model.model_version
        for label, count in Counter(labels).items():
            telemetry.count_predictions(version, label, count)
        return labels, proba, latency_ms

    def rows_of(items: list[PredictRequest]) -> np.ndarray:
        return np.array([[getattr(i, f) for f in FEATURE_NAMES] for i in items], dtype=np.float64)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def predict_single(body: bytes, request_id: str) -> bytes:
        """/predict on a raw body: validate, score, log, count; the JSON answer."""
        item = parse(PredictRequest, body)
        row = [item.sepal_length, item.sepal_width, item.petal_length, item.petal_width]
        predictor = serving.predictor
        start = time.perf_counter()
        proba = predictor.proba_one(row)
        latency_ms = (time.perf_counter() - start) * 1000
        label = predictor.label_one(proba)
        serving.monitor.record_one(request_id, row, label, proba)
        version = predictor.model.model_version
        telemetry.count_predictions(version, label)
        return orjson.dumps(
            {
                "predicted_label": label,
                "class_probabilities": dict(zip(predictor.classes, proba, strict=True)),
                "model_version": version,
                "latency_ms": latency_ms,
            }
        )

    lanes = {("POST", "/predict"): predict_single} if settings.fast_lane else {}
    app.add_middleware(
        RequestContextMiddleware,
        telemetry=telemetry,
        max_body_bytes=settings.max_body_bytes,
        lanes=lanes,
    )

    @app.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES)
    async def predict(request: Request) -> Response:
        # With FAST_LANE (the default) the middleware answers POST /predict with the same
        # function before FastAPI routes it; this route declares it and is the fallback.
        content = predict_single(await json_body(request), request.state.request_id)
        return Response(content, media_type="application/json")

    def batch_rows(body: bytes) -> np.ndarray:
        """The rows of a /predict/batch body: vectorised checks, pydantic for errors."""
        try:
            payload = invocations.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and list(payload) == ["instances"]:
            rows = fast_rows(payload["instances"], FEATURE_NAMES)
            if rows is not None:
                return rows
        return rows_of(parse(PredictBatchRequest, body).instances)

    def check_rows(n: int, field: str) -> None:
        limit = settings.max_batch_rows
        if n > limit:
            message = f"{field}: {n} rows exceed the limit of {limit} (MAX_BATCH_ROWS); split them"
            detail = {"field": field, "rule": "max_length", "message": f"at most {limit} rows"}
            raise ApiError(413, "payload_too_large", message, [detail])

    async def off_loop_if_large(
        request: Request, handler: Callable[[bytes, str], dict[str, Any]]
    ) -> Response:
        """Parse and score large bodies in a worker thread, so other clients keep going."""
        body = await json_body(request)
        request_id: str = request.state.request_id
        if len(body) > _OFFLOAD_BYTES:
            return json_response(await run_in_threadpool(handler, body, request_id))
        return json_response(handler(body, request_id))

    def predict_batch_sync(body: bytes, request_id: str) -> dict[str, Any]:
        rows = batch_rows(body)
        check_rows(len(rows), "instances")
        labels, proba, latency_ms = score(rows, request_id)
        classes = serving.predictor.classes
        predictions = [
            {"predicted_label": label, "class_probabilities": dict(zip(classes, p, strict=True))}
            for label, p in zip(labels, proba.tolist(), strict=True)
        ]
        return {
            "predictions": predictions,
            "model_version": serving.predictor.model.model_version,
            "latency_ms": latency_ms,
        }

    @app.post("/predict/batch", response_model=PredictBatchResponse, responses=ERROR_RESPONSES)
    async def predict_batch(request: Request) -> Response:
        return await off_loop_if_large(request, predict_batch_sync)

    def invocations_sync(body: bytes, request_id: str) -> dict[str, Any]:
        try:
            rows = invocations.parse_payload(body, list(FEATURE_NAMES))
        except invocations.PayloadError as exc:
            raise ApiError(exc.status, exc.error, str(exc), exc.details) from None
        check_rows(len(rows), "rows")
        labels, _, _ = score(rows, request_id)
        return {"predictions": labels}

    @app.post("/invocations", response_model=InvocationsResponse, responses=ERROR_RESPONSES)
    async def invocations_route(request: Request) -> Response:
        return await off_loop_if_large(request, invocations_sync)

    @app.get("/model", response_model=ModelResponse)
    async def model_route() -> dict[str, Any]:
        predictor: Predictor = serving.predictor
        loaded = predictor.model
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
            "fast_path": predictor.fast is not None,
        }

    @app.post("/feedback", response_model=FeedbackResponse, responses=ERROR_RESPONSES)
    async def feedback(request: Request) -> dict[str, Any]:
        item = parse(FeedbackRequest, await json_body(request))
        try:
            result: dict[str, Any] = await run_in_threadpool(
                serving.monitor.feedback, item.request_id, item.true_label
            )
        except UnknownLabelError as exc:
            detail = {"field": "true_label", "rule": "enum", "message": f"true_label: {exc}"}
            raise ApiError(422, "validation_error", f"true_label: {exc}", [detail]) from None
        return result

    @app.get("/monitoring/drift", response_model=DriftReport, responses=MONITORING_RESPONSES)
    async def monitoring_drift() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(serving.monitor.drift)
        return result

    @app.get(
        "/monitoring/performance",
        response_model=PerformanceReport,
        responses=MONITORING_RESPONSES,
    )
    async def monitoring_performance() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(serving.monitor.performance)
        return result

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        collector = MonitoringCollector(serving.monitor)
        text = await run_in_threadpool(telemetry.render, [collector])
        return Response(text, media_type=CONTENT_TYPE)

    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """Declare the request bodies the routes parse themselves, for the OpenAPI schema."""
    from fastapi.openapi.utils import get_openapi

    bodies: dict[str, type[BaseModel] | None] = {
        "/predict": PredictRequest,
        "/predict/batch": PredictBatchRequest,
        "/invocations": None,
        "/feedback": FeedbackRequest,
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for path, body_model in bodies.items():
            if path not in schema["paths"]:
                continue
            if body_model is None:
                body_schema: dict[str, Any] = {"type": "object"}
            else:
                js = body_model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[body_model.__name__] = js
                body_schema = {"$ref": f"#/components/schemas/{body_model.__name__}"}
            schema["paths"][path]["post"]["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
