"""The middleware's body deadline, driven through the ASGI interface with fake receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from petalflow.observability.metrics import Telemetry
from petalflow.serving import middleware
from petalflow.serving.handlers import Answer
from petalflow.serving.middleware import RequestContextMiddleware
from petalflow.serving.settings import Settings

Message = dict[str, Any]
BODY = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
HANG_GUARD_S = 30  # only against a hang: every test ends long before


class Plane:
    """A data plane that records the bodies it is given."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def predict(self, body: bytes, request_id: str) -> Answer:
        self.bodies.append(body)
        return Answer(b'{"predicted_label": "setosa"}', "v1")


class Holder:
    def __init__(self) -> None:
        self.plane = Plane()


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("POST /predict must be answered by the middleware")


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"slow-1")],
    }


def _run(
    receive: Callable[[], Awaitable[Message]], body_timeout: float
) -> tuple[list[Message], Holder]:
    """Serve one POST /predict; returns the messages sent and the data plane."""
    holder = Holder()
    app = RequestContextMiddleware(
        _not_found, Telemetry(), max_body_bytes=1 << 20, serving=holder, body_timeout=body_timeout
    )
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def serve() -> None:
        await asyncio.wait_for(app(_scope(), receive, send), HANG_GUARD_S)

    asyncio.run(serve())
    return sent, holder


def _stalls_after(*messages: Message) -> Callable[[], Awaitable[Message]]:
    """A receive that returns ``messages`` and then waits forever, as a stalled client."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def _assert_408(sent: list[Message]) -> None:
    start, body = sent
    assert start["status"] == 408
    headers = dict(start["headers"])
    assert headers[b"connection"] == b"close"
    assert headers[b"x-request-id"] == b"slow-1"
    error = json.loads(body["body"])
    assert error["error"] == "request_timeout"
    assert error["request_id"] == "slow-1"
    assert "BODY_TIMEOUT_SECONDS" in error["message"]
    assert "0.05 s" in error["message"]


def test_middleware_answers_408_when_the_body_stalls_midway() -> None:
    first = {"type": "http.request", "body": BODY[:10], "more_body": True}
    sent, holder = _run(_stalls_after(first), body_timeout=0.05)
    _assert_408(sent)
    assert holder.plane.bodies == []


def test_middleware_answers_408_when_no_body_byte_arrives() -> None:
    sent, holder = _run(_stalls_after(), body_timeout=0.05)
    _assert_408(sent)
    assert holder.plane.bodies == []


def test_middleware_answers_408_when_a_trickled_body_misses_the_deadline() -> None:
    """The deadline is for the whole body, not for each part: a trickle does not reset it."""

    async def receive() -> Message:
        await asyncio.sleep(0.01)
        return {"type": "http.request", "body": b" ", "more_body": True}

    sent, holder = _run(receive, body_timeout=0.05)
    _assert_408(sent)
    assert holder.plane.bodies == []


def test_middleware_fast_path_arms_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body complete in the first message (every single-row /predict) costs no timer."""

    def no_timer(delay: float | None) -> Any:
        raise AssertionError("a complete body must not arm the deadline")

    monkeypatch.setattr(middleware.asyncio, "timeout", no_timer)
    complete = {"type": "http.request", "body": BODY, "more_body": False}
    sent, holder = _run(_stalls_after(complete), body_timeout=0.05)
    assert sent[0]["status"] == 200
    assert holder.plane.bodies == [BODY]


def test_middleware_reads_a_body_that_arrives_in_parts_in_time() -> None:
    parts = [BODY[:7], BODY[7:40], BODY[40:]]

    async def receive() -> Message:
        await asyncio.sleep(0.001)  # each part has to be waited for
        part = parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    sent, holder = _run(receive, body_timeout=HANG_GUARD_S)
    assert sent[0]["status"] == 200
    assert holder.plane.bodies == [BODY]


def test_middleware_lets_the_servers_cancellation_through() -> None:
    """A task cancelled by the server (graceful-shutdown timeout) is not turned into 408."""
    app = RequestContextMiddleware(
        _not_found, Telemetry(), max_body_bytes=1 << 20, serving=Holder(), body_timeout=60
    )
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def cancel_while_waiting() -> None:
        task = asyncio.create_task(app(_scope(), _stalls_after(), send))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_waiting())
    assert sent == []


@pytest.mark.parametrize(
    "field", ["body_timeout_seconds", "header_timeout_seconds", "max_header_bytes"]
)
def test_settings_refuse_a_non_positive_client_limit(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: 0})  # type: ignore[arg-type]
