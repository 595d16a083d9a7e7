"""uvicorn's httptools protocol with bounded request heads and connection counts, and a
response's head and body sent together.

uvicorn 0.54 bounds neither how long a request head may take (with httptools or h11)
nor, with httptools, its size; and a connection over ``--limit-concurrency`` keeps its
socket. It also writes a response's head and body in two calls, so two send(2) calls
and two TCP segments per response. ``serve.py`` builds the protocol from the settings
(``bounded_protocol``), and uvicorn runs it with ``--http serve:HttpProtocol``.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Iterable
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from petalflow.core.errors import ClientError
from petalflow.serving.http_errors import RequestTimeoutError, error_response
from petalflow.serving.settings import Settings

logger = logging.getLogger(__name__)


class PairedWrites:
    """A transport whose writes go out in pairs: a response's head waits for its body
    and both leave in one send(2), or, with no second write (an empty body), at the
    event loop's next turn. Everything else is the wrapped transport's.

    One send instead of two per response: rf, 16 connections, 10 interleaved rounds of
    4 s against uvicorn's two writes, server CPU per request 242 -> 200 us with the
    prediction log, 230 -> 170 us without (docs/performance.md).
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._release)
        else:
            self._held = None
            self._transport.write(held + data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(chunks))

    def _release(self) -> None:
        """Send a write still waiting for its pair (a closed connection drops it)."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._release()  # a response written just before the close goes first
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (its speed kept) with bounded request heads.

    A head must arrive within HEADER_TIMEOUT_SECONDS of the connection opening (or, on a
    kept-alive connection, of its first byte), else 408; a connection that sent nothing is
    closed quietly, as a keep-alive timeout does. A head over MAX_HEADER_BYTES gets 431
    (counted as it arrives, so an endless header never piles up in memory). The connection
    that reaches `--limit-concurrency` gets 503 and is closed at once, instead of holding a
    file descriptor. Bodies are the middleware's (BODY_TIMEOUT_SECONDS, MAX_BODY_BYTES).
    """

    max_header_bytes: ClassVar[int] = 16384
    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_since: float | None = None  # loop time the unfinished head began
        self.head_bytes = 0  # of the unfinished head, in earlier chunks
        self.head_timer: asyncio.TimerHandle | None = None
        self.idle = True  # nothing received yet
        self.in_message = False
        self.message_ended = False  # in the chunk being parsed
        self.mid_chunk = False  # the head began after another message, in the same chunk

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        paired = PairedWrites(transport, self.loop)
        super().connection_made(cast(asyncio.Transport, paired))
        limit = self.limit_concurrency
        if limit is not None and len(self.connections) >= limit:  # uvicorn would answer 503
            message = f"the server is at its limit of {limit} connections; retry with backoff"
            self.refuse(ClientError(message, status=503, code="overloaded"))
        else:
            self.start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.message_ended = self.mid_chunk = False
        room = self.max_header_bytes - self.head_bytes
        if len(data) > room and (self.head_since is not None or not self.in_message):
            super().data_received(data[:room])  # a head must end within the room it has left
            if self.transport.is_closing():
                return
            if self.head_since is not None and not self.mid_chunk:
                self.refuse_large_head()
                return
            data = data[room:]
        super().data_received(data)
        # A head begun after another message in this chunk is counted from its next chunk.
        if self.head_since is not None and not self.mid_chunk:
            self.head_bytes += len(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.idle, self.in_message, self.mid_chunk = False, True, self.message_ended
        self.head_bytes = 0
        if self.head_since is None:  # else the connection's first head, timed since it opened
            self.start_head()

    def on_headers_complete(self) -> None:
        self.head_since = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_message, self.message_ended = False, True
        super().on_message_complete()

    def start_head(self) -> None:
        """Start a head's clock; one timer at a time, re-armed lazily by ``check_head``."""
        self.head_since = self.loop.time()
        if self.head_timer is None:
            due = self.head_since + self.header_timeout
            self.head_timer = self.loop.call_at(due, self.check_head)

    def check_head(self) -> None:
        self.head_timer = None
        since, timeout = self.head_since, self.header_timeout
        if since is None or self.transport.is_closing():
            return
        if self.loop.time() < since + timeout:  # a later head than the timer was armed for
            self.head_timer = self.loop.call_at(since + timeout, self.check_head)
        elif self.idle:
            self.transport.close()
        else:
            message = f"the request head did not arrive within {timeout:g} s"
            self.refuse(
                RequestTimeoutError(f"{message}; send it at once, or raise HEADER_TIMEOUT_SECONDS")
            )

    def refuse_large_head(self) -> None:
        limit = self.max_header_bytes
        message = f"the request line and headers are larger than {limit} bytes"
        advice = "send fewer or shorter headers, or raise MAX_HEADER_BYTES"
        self.refuse(ClientError(f"{message}; {advice}", status=431, code="header_too_large"))

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse (a malformed head, chunk or
        Content-Length), in the one JSON error format instead of its plain text."""
        advice = "send a well-formed HTTP/1.1 request (one Content-Length, or chunked)"
        error = ClientError(f"{msg.rstrip('.')}; {advice}", status=400, code="malformed_http")
        # The cycle is the request being read's once its head is complete; its answer is
        # the next one only if no earlier request waits (pipelined requests are queued).
        own = self.in_message and self.head_since is None and not self.pipeline
        self.refuse(error, current=own)

    def refuse(self, error: ClientError, current: bool = False) -> None:
        """Answer ``error`` (unless another response may be due first), log it, close the
        connection. ``current``: ``self.cycle`` is the refused request's, whose response,
        if not started, is the next one due."""
        client = "{}:{}".format(*self.client) if self.client else "unknown"
        logger.warning("closing the connection of %s: %s", client, error.message)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or (current and not cycle.response_started):
            # The request being read, once the app has started it, has an id, and the app's
            # log line says this status (not 499, its client gone)
            state = cycle.scope.setdefault("state", {}) if current and cycle else {}
            request_id = str(state.get("request_id", ""))
            status, body = error_response(error, request_id)
            state["refused_status"] = status
            head = (
                f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                + (f"x-request-id: {request_id}\r\n" if request_id else "")
                + "connection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()


def bounded_protocol(settings: Settings) -> type[BoundedHttpProtocol]:
    """The protocol class with the head limits of ``settings`` (HEADER_TIMEOUT_SECONDS,
    MAX_HEADER_BYTES)."""
    limits = {
        "max_header_bytes": settings.max_header_bytes,
        "header_timeout": settings.header_timeout_seconds,
    }
    return type("HttpProtocol", (BoundedHttpProtocol,), limits)
