"""HTTP errors: the one JSON error format, and the one place domain errors get a status."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from petalflow.core.errors import (
    AlreadyLabelledError,
    MonitoringDisabledError,
    PetalflowError,
    PredictionNotFoundError,
    UnknownLabelError,
)
from petalflow.serving.schemas import ErrorResponse, error_details, summarize

logger = logging.getLogger(__name__)


def error_content(
    error: str, message: str, request_id: str, details: list[dict[str, Any]] | None = None
) -> bytes:
    """The one JSON error body (every 4xx/5xx)."""
    body = {"error": error, "message": message, "details": details or [], "request_id": request_id}
    return orjson.dumps(body)


def check_media_type(content_type: str) -> None:
    """415 unless the Content-Type is JSON (parameters such as charset are fine)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        shown = f"{content_type!r}" if content_type else "none"
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be application/json, got {shown}"
        )


M = TypeVar("M", bound=BaseModel)

# The one place where domain errors become HTTP statuses.
_ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    PredictionNotFoundError: (404, "not_found"),
    AlreadyLabelledError: (409, "conflict"),
    UnknownLabelError: (422, "validation_error"),
    MonitoringDisabledError: (503, "monitoring_disabled"),
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 409, 413, 415, 422, 500, 503)
}
MONITORING_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (500, 503)
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
    check_media_type(request.headers.get("content-type", ""))
    return await request.body()


def _error_response(
    request: Request,
    status: int,
    error: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> Response:
    content = error_content(error, message, getattr(request.state, "request_id", ""), details)
    return Response(content, status_code=status, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(request, exc.status, exc.error, exc.message, exc.details)

    @app.exception_handler(PetalflowError)
    async def domain_error(request: Request, exc: PetalflowError) -> Response:
        for kind, (status, error) in _ERROR_STATUS.items():
            if isinstance(exc, kind):
                return _error_response(request, status, error, str(exc))
        # Unmapped domain errors may name server paths: log them, answer generically.
        logger.error("unmapped error: %s", exc)
        request_id = getattr(request.state, "request_id", "")
        message = f"internal error; quote request id {request_id} when reporting it"
        return _error_response(request, 500, "internal_error", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(request, exc.status_code, error, str(exc.detail))
