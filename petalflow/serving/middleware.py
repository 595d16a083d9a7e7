"""Pure ASGI middleware: request id, API keys, body limit and deadline, one JSON log line,
request metrics, and the endpoints that take a JSON body.

Pure ASGI (not BaseHTTPMiddleware): it is on every request's path. The JSON-body operations
(``ENDPOINTS``) are answered here by the data plane, with one content-type check, body reader
and error mapping (FastAPI's routing costs more than a single-row prediction); their FastAPI
routes only document them (OpenAPI) and answer other methods with 405."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
import types
from collections.abc import Callable, Generator
from typing import Any, NamedTuple, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from petalflow.observability.logs import AccessLog
from petalflow.observability.metrics import Telemetry
from petalflow.serving.api_keys import KeyGuard
from petalflow.serving.handlers import Answer, ClientRequestId
from petalflow.serving.http_errors import (
    INVOCATIONS,
    PayloadTooLargeError,
    RequestTimeoutError,
    body_media,
    error_response,
)


class Endpoint(NamedTuple):
    """A POST operation answered here: the data-plane method, the body size above which it
    runs in a worker thread so that other clients keep going, and whether it is MLflow's
    scoring endpoint (its media types, passed to the handler; its statuses and error codes)."""

    operation: str
    offload_above: int
    scoring: bool = False


# Bodies above this size (~3,000 rows: ~10 ms of parsing and scoring with logreg, ~20 ms
# with a 200-tree forest) are handled in a worker thread. Below it the loop does the work
# itself, other clients waiting meanwhile: the thread hand-off and the GIL contention it
# brings cost more than the batch (1,000-row batches: ~1.5x the req/s on the loop).
_OFFLOAD_BYTES = 256 * 1024
ENDPOINTS: dict[str, Endpoint] = {
    "/predict": Endpoint("predict", _OFFLOAD_BYTES),
    "/predict/batch": Endpoint("predict_batch", _OFFLOAD_BYTES),
    INVOCATIONS: Endpoint("invocations", _OFFLOAD_BYTES, scoring=True),
    "/feedback": Endpoint("feedback", 0),  # SQLite, may wait for another writer
}


class PlaneHolder(Protocol):
    """Where the middleware finds the data plane (set by the lifespan)."""

    plane: Any


logger = logging.getLogger("petalflow.access")
_access_log = AccessLog(logger)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class ClientDisconnectedError(Exception):
    """The client went away before its body arrived."""


def _request_id(scope: Scope, fresh: Callable[[], str]) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return ClientRequestId(candidate)  # reused: replayed or refused (409)
            break
    return fresh()


class RequestContextMiddleware:
    """Gives every HTTP request an id, an API-key check, a body limit, a log line and metrics."""

    def __init__(
        self,
        app: ASGIApp,
        telemetry: Telemetry,
        max_body_bytes: int,
        serving: PlaneHolder,
        body_timeout: float,
        guard: KeyGuard | None = None,
    ) -> None:
        self.app = app
        self.guard = guard  # None without API keys
        self.telemetry, self.serving = telemetry, serving
        self.max_body_bytes, self.body_timeout = max_body_bytes, body_timeout
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
        status, started = 500, False
        endpoint = ENDPOINTS.get(scope["path"]) if scope["method"] == "POST" else None
        route = scope["path"] if endpoint is not None else None  # a 401 or 413 counts there
        inner = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        limit, timeout = self.max_body_bytes, self.body_timeout
        received, complete = 0, False

        async def limited_receive() -> Message:
            nonlocal received, complete  # once complete (e.g. awaiting a disconnect): no deadline
            message = await (receive() if complete else _arrival(receive, start, timeout))
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(limit)
                complete = not message.get("more_body", False)
            return message

        try:
            if self.guard is not None and self.guard.protects(scope["path"]):  # keys set
                self.guard.check(scope["headers"])  # 401/403 before the body is read
            if (_content_length(scope) or 0) > limit:  # declared too large: not read
                raise PayloadTooLargeError(limit)
            if endpoint is not None:
                handler = getattr(self.serving.plane, endpoint.operation)
                await _serve(handler, endpoint, scope, limited_receive, send_with_id, request_id)
            else:  # a HEAD as its GET: the same headers (uvicorn drops the body)
                await self.app(inner, limited_receive, send_with_id)
        except ClientDisconnectedError:  # nginx's 499 "client closed request", unless
            status = scope["state"].get("refused_status", 499)  # the protocol answered
        except Exception as exc:
            if not started:
                mlflow = scope["path"] == INVOCATIONS
                await _send_json(send_with_id, *error_response(exc, request_id, mlflow))
            else:
                logger.exception(
                    "error after the response started", extra={"fields": {"request_id": request_id}}
                )
        finally:
            route = route or getattr(inner.get("route"), "path", None)  # FastAPI's match
            self._observe(scope, route, status, start, request_id)

    def _observe(
        self, scope: Scope, route: str | None, status: int, start: float, request_id: str
    ) -> None:
        elapsed = time.perf_counter() - start
        path = route or "unmatched"
        self.telemetry.observe_request(path, scope["method"], status, elapsed)
        if not logger.isEnabledFor(logging.INFO):
            return
        _access_log(
            {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round(elapsed * 1000, 3),
                "model_version": scope["state"].get("model_version")
                or getattr(self.serving, "version", None),
            }
        )


async def _serve(
    handler: Callable[..., Answer],
    endpoint: Endpoint,
    scope: Scope,
    receive: Receive,
    send: Send,
    request_id: str,
) -> None:
    """Read a JSON body (or, for MLflow's scoring endpoint, one of its media types), run
    the handler (in a thread if large), send its answer (and its ``X-Model-Version``)."""
    try:
        content = _header(scope, b"content-type"), _header(scope, b"content-encoding")
        media = body_media(*content, scoring=endpoint.scoring)
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > endpoint.offload_above:
            answer = await run_in_threadpool(handler, body, request_id, *media)
        else:
            answer = handler(body, request_id, *media)
    except ClientDisconnectedError:
        raise
    except Exception as exc:
        await _send_json(send, *error_response(exc, request_id, endpoint.scoring))
        return
    if answer.model_version is not None:  # for the access log
        scope["state"]["model_version"] = answer.model_version
    await _send_json(send, 200, answer.content, *answer.headers)


async def _arrival(receive: Receive, start: float, timeout: float) -> Message:
    """``receive()``, or 408 once ``timeout`` s have passed since ``start`` (perf_counter).
    A message already buffered (a single-row /predict's) comes back without arming a timer
    (~6 µs, 1% of a prediction): only a receive that has to wait runs under the deadline."""
    steps = receive().__await__()
    try:
        pending = steps.send(None)  # run the receive up to its first wait, if any
    except StopIteration as done:
        return done.value
    try:
        async with asyncio.timeout(start + timeout - time.perf_counter()):
            return await _finish(steps, pending)
    except TimeoutError:
        message = f"the request body did not arrive within {timeout:g} s of its head"
        raise RequestTimeoutError(
            f"{message}; send it at once, or raise BODY_TIMEOUT_SECONDS"
        ) from None


@types.coroutine
def _finish(steps: Generator[Any, Any, Message], pending: Any) -> Generator[Any, Any, Message]:
    """Finish ``steps``, suspended at ``pending``, in the calling task (as ``await`` does)."""
    try:
        yield pending
    except BaseException as exc:  # the deadline's cancellation, or the server's:
        steps.throw(exc)  # the receive, waiting for ``pending``, raises it again
    return (yield from steps)


async def _send_json(send: Send, status: int, content: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *extra,
    ]
    if status == 408:  # the rest of the body may still trickle in (RFC 9110, 15.5.9)
        headers.append((b"connection", b"close"))
    elif status == 401:  # the scheme a protected route takes (RFC 6750, 3)
        headers.append((b"www-authenticate", b"Bearer"))
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
    """Drop the traceback Starlette attaches to a failed startup: the lifespan has already
    logged one clear line (the traceback at DEBUG); uvicorn would print it all at ERROR."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            message = {**message, "message": ""}
        await send(message)

    return wrapped
