"""HTTP errors: the one JSON error format, and the one place errors become responses.

Every domain error carries its status and code (``petalflow.core.errors``);
``error_response`` reads them, for the ASGI endpoints and FastAPI's handlers alike.
Anything else is an internal error: logged, and answered with the request id only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from petalflow.core.errors import ClientError, PetalflowError
from petalflow.serving.schemas import ErrorResponse

logger = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 408, 409, 413, 415, 422, 500, 503)
}
MONITORING_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (500, 503)
}


class PayloadTooLargeError(ClientError):
    """The request body is larger than the configured limit."""

    status = 413
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"request body is larger than {limit} bytes; send fewer rows per request "
            "or raise MAX_BODY_BYTES"
        )


class RequestTimeoutError(ClientError):
    """A request head or body that did not arrive in time (the message names the setting)."""

    status = 408
    code = "request_timeout"


def error_content(
    error: str, message: str, request_id: str, details: list[dict[str, Any]] | None = None
) -> bytes:
    """The one JSON error body (every 4xx/5xx)."""
    body = {"error": error, "message": message, "details": details or [], "request_id": request_id}
    return orjson.dumps(body)


def error_response(exc: BaseException, request_id: str) -> tuple[int, bytes]:
    """The status and body for any exception: the one mapping of errors to responses."""
    if isinstance(exc, PetalflowError) and exc.public:
        details = exc.details if isinstance(exc, ClientError) else []
        message = exc.message if isinstance(exc, ClientError) else str(exc)
        return exc.status, error_content(exc.code, message, request_id, details)
    # Server-side failures may name server paths: log them, answer generically.
    logger.error(
        "internal error: %s: %s",
        type(exc).__name__,
        exc,
        exc_info=not isinstance(exc, PetalflowError),
        extra={"fields": {"request_id": request_id}},
    )
    message = f"internal error; quote request id {request_id} when reporting it"
    return 500, error_content("internal_error", message, request_id)


def check_media_type(content_type: str) -> None:
    """415 unless the Content-Type is JSON (parameters such as charset are fine)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        shown = f"{content_type!r}" if content_type else "none"
        raise ClientError(
            f"Content-Type must be application/json, got {shown}",
            status=415,
            code="unsupported_media_type",
        )


def _http_error(exc: StarletteHTTPException, method: str, path: str) -> ClientError:
    """Starlette's 404/405 with a message that says what to do instead."""
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or "another method"
        message = f"{method} is not allowed on {path}; use {allowed}"
        return ClientError(message, status=405, code="method_not_allowed")
    if exc.status_code == 404:
        hint = f"; did you mean {path.rstrip('/')}?" if path.endswith("/") and path != "/" else ""
        message = f"no endpoint at {path}{hint} (see /docs)"
        return ClientError(message, status=404, code="not_found")
    return ClientError(str(exc.detail), status=exc.status_code, code="http_error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI sees through ``error_response``."""

    def reply(request: Request, exc: BaseException, headers: Mapping[str, str] | None) -> Response:
        status, body = error_response(exc, getattr(request.state, "request_id", ""))
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    @app.exception_handler(PetalflowError)
    async def domain_error(request: Request, exc: PetalflowError) -> Response:
        return reply(request, exc, None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        mapped = _http_error(exc, request.method, request.url.path)
        return reply(request, mapped, exc.headers)
