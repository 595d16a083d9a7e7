"""Pure ASGI middleware: request id, body limit, one JSON log line, request metrics.

Pure ASGI (not BaseHTTPMiddleware) because it sits on the hot path of every request.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from petalflow.observability.logs import AccessLog
from petalflow.observability.metrics import Telemetry
from petalflow.serving.http_errors import (
    ApiError,
    check_media_type,
    error_content,
)

# A lane answers one (method, path) directly at the ASGI layer: body -> JSON bytes,
# raising ApiError for client errors. It skips FastAPI's routing and response layers,
# which cost more than the whole prediction on the hot single-row route.
Lane = Callable[[bytes, str], bytes]

logger = logging.getLogger("petalflow.access")
_access_log = AccessLog(logger)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class PayloadTooLargeError(Exception):
    """The request body is larger than the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"request body is larger than {limit} bytes; send fewer rows per request "
            "or raise MAX_BODY_BYTES"
        )
        self.limit = limit


class ClientDisconnectedError(Exception):
    """The client went away before its body arrived."""


def _request_id(scope: Scope, fresh: Callable[[], str]) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
            break
    return fresh()


class RequestContextMiddleware:
    """Gives every HTTP request an id, a body limit, a log line and metrics."""

    def __init__(
        self,
        app: ASGIApp,
        telemetry: Telemetry,
        max_body_bytes: int,
        lanes: Mapping[tuple[str, str], Lane] | None = None,
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.max_body_bytes = max_body_bytes
        self.lanes = lanes or {}
        self._node = secrets.token_hex(4)
        self._sequence = itertools.count()

    def _new_id(self) -> str:
        # Time-ordered (like UUIDv7), so new ids land at the end of the prediction log's
        # index; a random per-process node and a counter keep them unique across workers.
        return f"{time.time_ns():016x}{self._node}{next(self._sequence) & 0xFFFFFFFF:08x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _quiet_startup_failure(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope, self._new_id)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500
        started = False
        route: str | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(limit)
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await self._reply(
                    send_with_id,
                    413,
                    "payload_too_large",
                    str(PayloadTooLargeError(limit)),
                    request_id,
                )
            elif lane := self.lanes.get((scope["method"], scope["path"])):
                route = scope["path"]
                await _serve_lane(lane, scope, limited_receive, send_with_id, request_id)
            else:
                await self.app(scope, limited_receive, send_with_id)
        except ClientDisconnectedError:
            status = 499  # nginx's "client closed request": not a server error
        except PayloadTooLargeError as exc:
            if not started:
                await self._reply(send_with_id, 413, "payload_too_large", str(exc), request_id)
        except Exception:
            logger.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if not started:
                message = f"internal error; quote request id {request_id} when reporting it"
                await self._reply(send_with_id, 500, "internal_error", message, request_id)
        finally:
            self._observe(scope, route, status, start, request_id)

    @staticmethod
    async def _reply(send: Send, status: int, error: str, message: str, request_id: str) -> None:
        body = error_content(error, message, request_id)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _observe(
        self, scope: Scope, route: str | None, status: int, start: float, request_id: str
    ) -> None:
        elapsed = time.perf_counter() - start
        path = route or getattr(scope.get("route"), "path", None) or "unmatched"
        self.telemetry.observe_request(path, scope["method"], status, elapsed)
        if not logger.isEnabledFor(logging.INFO):
            return
        app_state = getattr(scope.get("app"), "state", None)
        _access_log(
            {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round(elapsed * 1000, 3),
                "model_version": getattr(app_state, "model_version", None),
            }
        )


async def _serve_lane(
    lane: Lane, scope: Scope, receive: Receive, send: Send, request_id: str
) -> None:
    try:
        check_media_type(_header(scope, b"content-type"))
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        status, content = 200, lane(b"".join(chunks), request_id)
    except ApiError as exc:
        status, content = exc.status, error_content(exc.error, exc.message, request_id, exc.details)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def _content_length(scope: Scope) -> int | None:
    try:
        return int(_header(scope, b"content-length"))
    except ValueError:  # absent (chunked) or garbage: the streamed count decides
        return None


def _quiet_startup_failure(send: Send) -> Send:
    """Drop the traceback Starlette attaches to a failed startup.

    The lifespan has already logged one clear line (and the traceback at DEBUG);
    uvicorn would otherwise print the whole traceback at ERROR.
    """

    async def wrapped(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            message = {**message, "message": ""}
        await send(message)

    return wrapped
