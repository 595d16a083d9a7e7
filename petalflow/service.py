"""The inference API: an app factory that takes settings (and optionally a loaded model).

Domain errors are mapped to HTTP status codes in one place: ``_ERROR_STATUS``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from petalflow import invocations
from petalflow.data import FEATURE_NAMES
from petalflow.errors import (
    AlreadyLabelledError,
    PetalflowError,
    PredictionNotFoundError,
    UnknownLabelError,
)
from petalflow.loading import LoadedModel, load_model
from petalflow.middleware import PayloadTooLargeError, RequestContextMiddleware
from petalflow.monitoring import Monitor, MonitoringCollector, MonitoringDisabledError, open_log
from petalflow.predictor import Predictor
from petalflow.schema import (
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    InvocationsResponse,
    ModelResponse,
    PredictBatchRequest,
    PredictBatchResponse,
    PredictRequest,
    PredictResponse,
    error_details,
    summarize,
)
from petalflow.settings import Settings
from petalflow.telemetry import CONTENT_TYPE, Telemetry

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# The one place where domain errors become HTTP statuses.
_ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    PredictionNotFoundError: (404, "not_found"),
    AlreadyLabelledError: (409, "conflict"),
    UnknownLabelError: (422, "validation_error"),
    PayloadTooLargeError: (413, "payload_too_large"),
    MonitoringDisabledError: (503, "monitoring_disabled"),
}
# Bodies above this size are parsed and scored in a worker thread, not on the loop.
_OFFLOAD_BYTES = 16 * 1024
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 409, 413, 415, 422, 500, 503)
}


class ApiError(Exception):
    """An HTTP error with the JSON error body."""

    def __init__(
        self, status: int, error: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.details = status, error, message, details or []


def validation_error(exc: ValidationError) -> ApiError:
    """Turn pydantic errors into one 4xx naming each field and rule."""
    details = error_details(exc)
    first = details[0] if details else {"rule": "", "field": None}
    if first["rule"] == "json_invalid":
        return ApiError(400, "malformed_json", f"body is not valid JSON: {exc.errors()[0]['msg']}")
    if first["rule"] == "model_type" and first["field"] is None:
        return ApiError(422, "validation_error", "body must be a JSON object", details)
    return ApiError(422, "validation_error", f"invalid request: {summarize(details)}", details)


def parse(model: type[M], body: bytes) -> M:
    """Strict JSON validation of ``body``; raises ApiError (400/422) on bad input."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


async def json_body(request: Request) -> bytes:
    """The raw body of a JSON request; 415 for any other content type."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        shown = f"{content_type!r}" if content_type else "none"
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be application/json, got {shown}"
        )
    return await request.body()


def _error_response(
    request: Request,
    status: int,
    error: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "")
    body = {"error": error, "message": message, "details": details or [], "request_id": request_id}
    return JSONResponse(body, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(request, exc.status, exc.error, exc.message, exc.details)

    @app.exception_handler(PetalflowError)
    async def domain_error(request: Request, exc: PetalflowError) -> JSONResponse:
        status, error = next(
            (v for k, v in _ERROR_STATUS.items() if isinstance(exc, k)), (500, "internal_error")
        )
        return _error_response(request, status, error, str(exc))

    @app.exception_handler(PayloadTooLargeError)
    async def too_large(request: Request, exc: PayloadTooLargeError) -> JSONResponse:
        return _error_response(request, 413, "payload_too_large", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(request, exc.status_code, error, str(exc.detail))


def create_app(settings: Settings, model: LoadedModel | None = None) -> FastAPI:
    """Build the API. The model is loaded once, in the lifespan, unless one is given."""
    telemetry = Telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            loaded = model or load_model(settings.model_uri, settings.artifacts_dir)
            predictor = Predictor(loaded, use_fast_path=settings.fast_path)
            log = open_log(settings)
        except (PetalflowError, OSError, sqlite3.Error) as exc:
            logger.debug("start-up failed", exc_info=True)
            logger.error("cannot start: %s", exc)
            raise
        app.state.predictor = predictor
        app.state.model_version = loaded.model_version
        app.state.monitor = Monitor(loaded, log, settings)
        telemetry.model_info.labels(loaded.model_version, loaded.source).set(1)
        logger.info("serving model %s from %s", loaded.model_version, loaded.source)
        try:
            yield
        finally:
            if log is not None:
                log.close()

    app = FastAPI(title="petalflow", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.telemetry = telemetry
    app.add_middleware(
        RequestContextMiddleware, telemetry=telemetry, max_body_bytes=settings.max_body_bytes
    )
    _install_error_handlers(app)

    def score(rows: np.ndarray, request_ids: list[str]) -> tuple[list[str], np.ndarray, float]:
        """Predict, then log and count the predictions (both O(1) per row)."""
        predictor: Predictor = app.state.predictor
        start = time.perf_counter()
        proba = predictor.proba(rows)
        latency_ms = (time.perf_counter() - start) * 1000
        labels = predictor.labels(proba)
        app.state.monitor.record(request_ids, rows, labels, proba)
        version = predictor.model.model_version
        for label, count in Counter(labels).items():
            telemetry.predictions.labels(version, label).inc(count)
        return labels, proba, latency_ms

    def rows_of(items: list[PredictRequest]) -> np.ndarray:
        return np.array([[getattr(i, f) for f in FEATURE_NAMES] for i in items], dtype=np.float64)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict", response_model=PredictResponse, responses=_ERRORS)
    async def predict(request: Request) -> Response:
        item = parse(PredictRequest, await json_body(request))
        row = [item.sepal_length, item.sepal_width, item.petal_length, item.petal_width]
        predictor: Predictor = app.state.predictor
        start = time.perf_counter()
        proba = predictor.proba_one(row)
        latency_ms = (time.perf_counter() - start) * 1000
        label = predictor.label_one(proba)
        app.state.monitor.record_one(request.state.request_id, row, label, proba)
        version = app.state.model_version
        telemetry.predictions.labels(version, label).inc()
        return JSONResponse(
            {
                "predicted_label": label,
                "class_probabilities": dict(zip(predictor.classes, proba, strict=True)),
                "model_version": version,
                "latency_ms": latency_ms,
            }
        )

    def predict_batch_sync(body: bytes, request_id: str) -> dict[str, Any]:
        batch = parse(PredictBatchRequest, body)
        limit = settings.max_batch_rows
        if len(batch.instances) > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"instances: {len(batch.instances)} rows exceed the limit of {limit} "
                "(MAX_BATCH_ROWS); split the batch",
                [{"field": "instances", "rule": "max_length", "message": f"at most {limit} rows"}],
            )
        ids = [f"{request_id}:{i}" for i in range(len(batch.instances))]
        labels, proba, latency_ms = score(rows_of(batch.instances), ids)
        classes = app.state.predictor.classes
        predictions = [
            {"predicted_label": label, "class_probabilities": dict(zip(classes, p, strict=True))}
            for label, p in zip(labels, proba.tolist(), strict=True)
        ]
        return {
            "predictions": predictions,
            "model_version": app.state.predictor.model.model_version,
            "latency_ms": latency_ms,
        }

    @app.post("/predict/batch", response_model=PredictBatchResponse, responses=_ERRORS)
    async def predict_batch(request: Request) -> Response:
        body = await json_body(request)
        request_id = request.state.request_id
        if len(body) > _OFFLOAD_BYTES:
            return JSONResponse(await run_in_threadpool(predict_batch_sync, body, request_id))
        return JSONResponse(predict_batch_sync(body, request_id))

    def invocations_sync(body: bytes, request_id: str) -> dict[str, Any]:
        try:
            rows = invocations.parse_payload(body, list(FEATURE_NAMES))
        except invocations.PayloadError as exc:
            raise ApiError(exc.status, exc.error, str(exc), exc.details) from None
        if len(rows) > settings.max_batch_rows:
            raise ApiError(
                413,
                "payload_too_large",
                f"{len(rows)} rows exceed the limit of {settings.max_batch_rows} (MAX_BATCH_ROWS); split the request",
            )
        labels, _, _ = score(rows, [f"{request_id}:{i}" for i in range(len(rows))])
        return {"predictions": labels}

    @app.post("/invocations", response_model=InvocationsResponse, responses=_ERRORS)
    async def invocations_route(request: Request) -> Response:
        body = await json_body(request)
        request_id = request.state.request_id
        if len(body) > _OFFLOAD_BYTES:
            return JSONResponse(await run_in_threadpool(invocations_sync, body, request_id))
        return JSONResponse(invocations_sync(body, request_id))

    @app.get("/model", response_model=ModelResponse)
    async def model_route() -> dict[str, Any]:
        predictor: Predictor = app.state.predictor
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

    @app.post("/feedback", response_model=FeedbackResponse, responses=_ERRORS)
    async def feedback(request: Request) -> dict[str, Any]:
        item = parse(FeedbackRequest, await json_body(request))
        result: dict[str, Any] = await run_in_threadpool(
            app.state.monitor.feedback, item.request_id, item.true_label
        )
        return result

    @app.get("/monitoring/drift", responses=_ERRORS)
    async def monitoring_drift() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(app.state.monitor.drift)
        return result

    @app.get("/monitoring/performance", responses=_ERRORS)
    async def monitoring_performance() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(app.state.monitor.performance)
        return result

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        collector = MonitoringCollector(app.state.monitor)
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
