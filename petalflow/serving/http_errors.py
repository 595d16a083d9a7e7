"""HTTP errors: the one JSON error format, and the one place errors become responses.

Every domain error carries its status and code (``petalflow.core.errors``);
``error_response`` reads them, for the ASGI endpoints and FastAPI's handlers alike.
Anything else is an internal error: logged, and answered with the request id only.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

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


INVOCATIONS = "/invocations"  # MLflow's scoring endpoint: its statuses and error codes
# The error_code `mlflow models serve` would give a status, where MLflow has one that maps
# back to the same status (mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS); other client errors
# are BAD_REQUEST, other server errors INTERNAL_ERROR.
_MLFLOW_CODES = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# The media types of MLflow's scoring server, and what petalflow calls them.
SCORING_MEDIA_TYPES = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
}


def mlflow_error_code(status: int) -> str:
    """MLflow's ``error_code`` for an HTTP status (see ``_MLFLOW_CODES``)."""
    return _MLFLOW_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")


# Details listed in one error body at most: a body of 60,000 unknown keys is ~650 KB, its
# 60,000 details ~6 MB. The message still counts them all (``schemas.summarize``).
MAX_DETAILS = 50


def error_content(
    error: str,
    message: str,
    request_id: str,
    details: list[dict[str, Any]] | None = None,
    mlflow_code: str | None = None,
) -> bytes:
    """The one JSON error body (every 4xx/5xx), its first ``MAX_DETAILS`` details;
    /invocations adds MLflow's ``error_code``."""
    listed = (details or [])[:MAX_DETAILS]
    body = {"error": error, "message": message, "details": listed, "request_id": request_id}
    if mlflow_code is not None:
        body["error_code"] = mlflow_code
    return orjson.dumps(body)


def error_response(exc: BaseException, request_id: str, mlflow: bool = False) -> tuple[int, bytes]:
    """The status and body for any exception: the one mapping of errors to responses.

    ``mlflow``: answered on /invocations, as `mlflow models serve` answers: its status codes
    (a refused body is 400 there, never 422) and its ``error_code`` beside petalflow's fields.
    """
    if isinstance(exc, PetalflowError) and exc.public:
        client = exc if isinstance(exc, ClientError) else None
        details = client.details if client else []
        message = client.message if client else str(exc)
        status = 400 if mlflow and exc.status == 422 else exc.status
        code = None
        if mlflow:
            code = (client.mlflow_code if client else None) or mlflow_error_code(status)
        return status, error_content(exc.code, message, request_id, details, code)
    # Server-side failures may name server paths: log them, answer generically.
    logger.error(
        "internal error: %s: %s",
        type(exc).__name__,
        exc,
        exc_info=not isinstance(exc, PetalflowError),
        extra={"fields": {"request_id": request_id}},
    )
    message = f"internal error; quote request id {request_id} when reporting it"
    code = "INTERNAL_ERROR" if mlflow else None
    return 500, error_content("internal_error", message, request_id, mlflow_code=code)


_JSON_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


def body_media(content_type: str, content_encoding: str, scoring: bool) -> tuple[str, ...]:
    """The handler's media argument: ``(kind,)`` for MLflow's scoring endpoint
    (``scoring_media_type``), none for a JSON route (``check_media_type``). 415 for a
    body sent with a content coding (gzip, say): it would be read as garbled JSON."""
    if content_encoding and content_encoding.strip().lower() != "identity":
        raise ClientError(
            f"Content-Encoding {content_encoding[:64]!r} is not supported; "
            "send the body uncompressed (no Content-Encoding)",
            status=415,
            code="unsupported_media_type",
        )
    if scoring:
        return (scoring_media_type(content_type),)
    check_media_type(content_type)
    return ()


def check_media_type(content_type: str) -> None:
    """415 unless the Content-Type is JSON (``application/json`` or a ``+json`` type) in
    UTF-8 (or its subset ASCII), the only charset JSON has (RFC 8259). A body without a
    charset that starts with a UTF-16 or -32 byte-order mark is decoded too."""
    if content_type == "application/json":  # the usual header: no parsing
        return
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        shown = f"{content_type!r}" if content_type else "none"
        raise ClientError(
            f"Content-Type must be application/json, got {shown}",
            status=415,
            code="unsupported_media_type",
        )
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in _JSON_CHARSETS:
            raise ClientError(
                f"Content-Type charset {value.strip()!r}: JSON is read as UTF-8; "
                "send the body in UTF-8 (charset=utf-8, or no charset)",
                status=415,
                code="unsupported_media_type",
            )


def scoring_media_type(content_type: str) -> str:
    """The kind of an /invocations body (``json``, ``csv``, ``parquet``), by MLflow's rules:
    its three media types exactly, only ``charset=utf-8`` as a parameter; else 415.

    (No Content-Type at all: 415, where `mlflow models serve` fails with a 500.)
    """
    if content_type == "application/json":  # the usual header: no parsing
        return "json"
    mime, *parts = [part.strip() for part in content_type.split(";")]
    parameters = {key: value for key, _, value in (part.partition("=") for part in parts)}
    problem = None
    if parameters.get("charset", "utf-8").lower() != "utf-8":
        problem = "the scoring server only supports UTF-8 (charset=utf-8)"
    elif unexpected := sorted(set(parameters) - {"charset"}):
        problem = f"unrecognized content type parameters: {', '.join(unexpected)}"
    elif mime not in SCORING_MEDIA_TYPES:
        shown = f"{content_type!r}" if content_type else "none"
        problem = f"Content-Type must be one of {', '.join(SCORING_MEDIA_TYPES)}, got {shown}"
    if problem is not None:
        raise ClientError(problem, status=415, code="unsupported_media_type")
    return SCORING_MEDIA_TYPES[mime]


PATH_SHOWN = 100  # a client's path is echoed up to this many characters


def _http_error(
    exc: StarletteHTTPException, method: str, path: str, routes: Collection[str] = ()
) -> ClientError:
    """Starlette's 404/405 with a message that says what to do instead; ``routes``: the
    app's route paths (a 404 with a trailing slash names the route without it)."""
    shown = path if len(path) <= PATH_SHOWN else f"{path[:PATH_SHOWN]}..."
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or "another method"
        message = f"{method[:16]} is not allowed on {shown}; use {allowed}"
        return ClientError(message, status=405, code="method_not_allowed")
    if exc.status_code == 404:
        route = path.rstrip("/")
        hint = f"; did you mean {route}?" if route != path and route in routes else ""
        message = f"no endpoint at {shown}{hint} (see /docs)"
        return ClientError(message, status=404, code="not_found")
    return ClientError(str(exc.detail), status=exc.status_code, code="http_error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI sees through ``error_response``."""

    def reply(request: Request, exc: BaseException, headers: Mapping[str, str] | None) -> Response:
        request_id = getattr(request.state, "request_id", "")
        status, body = error_response(exc, request_id, request.url.path == INVOCATIONS)
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    @app.exception_handler(PetalflowError)
    async def domain_error(request: Request, exc: PetalflowError) -> Response:
        return reply(request, exc, None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        routes = {route.path for route in request.app.routes if isinstance(route, Route)}
        mapped = _http_error(exc, request.method, request.url.path, routes)
        return reply(request, mapped, exc.headers)
