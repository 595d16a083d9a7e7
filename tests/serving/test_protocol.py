"""PairedWrites: a response's head and body leave in one write, in order, never lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from petalflow.serving.protocol import PairedWrites


class FakeTransport:
    """What PairedWrites passes on: the writes, the close and abort calls, in order."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 9) if name == "peername" else default


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _run(steps: Any) -> list[Any]:
    async def main() -> list[Any]:
        raw = FakeTransport()
        await steps(PairedWrites(raw, asyncio.get_running_loop()), raw)  # type: ignore[arg-type]
        await _turns()
        return raw.calls

    return asyncio.run(main())


def test_paired_writes_send_head_and_body_in_one_write_at_once() -> None:
    async def steps(paired: PairedWrites, raw: FakeTransport) -> None:
        paired.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert raw.calls == []  # the head waits for its body
        paired.write(memoryview(b'{"a":1}'))
        assert raw.calls == [b'HTTP/1.1 200 OK\r\n\r\n{"a":1}']  # no loop turn needed

    assert _run(steps) == [b'HTTP/1.1 200 OK\r\n\r\n{"a":1}']


def test_paired_writes_send_a_lone_write_at_the_next_loop_turn() -> None:
    async def steps(paired: PairedWrites, raw: FakeTransport) -> None:
        paired.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await _turns()
        assert raw.calls == [b"HTTP/1.1 204 No Content\r\n\r\n"]

    assert _run(steps) == [b"HTTP/1.1 204 No Content\r\n\r\n"]


@pytest.mark.parametrize("writes", [1, 2, 3, 5])
def test_paired_writes_keep_the_order_of_the_bytes(writes: int) -> None:
    chunks = [b"%d;" % i for i in range(writes)]

    async def steps(paired: PairedWrites, raw: FakeTransport) -> None:
        for chunk in chunks:
            paired.write(chunk)

    calls = _run(steps)
    assert b"".join(calls) == b"".join(chunks)
    assert len(calls) == (writes + 1) // 2  # pairs, and the odd one out on its own


def test_paired_writes_send_a_waiting_write_before_closing() -> None:
    async def steps(paired: PairedWrites, raw: FakeTransport) -> None:
        paired.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n{}")
        paired.close()

    assert _run(steps) == [b"HTTP/1.1 408 Request Timeout\r\n\r\n{}", "close"]


def test_paired_writes_drop_a_waiting_write_on_abort_or_a_closed_connection() -> None:
    async def aborted(paired: PairedWrites, raw: FakeTransport) -> None:
        paired.write(b"head")
        paired.abort()

    async def lost(paired: PairedWrites, raw: FakeTransport) -> None:
        paired.write(b"head")
        raw.closing = True  # the peer went away before the loop turned

    assert _run(aborted) == ["abort"]
    assert _run(lost) == []


def test_paired_writes_pass_everything_else_to_the_transport() -> None:
    async def steps(paired: PairedWrites, raw: FakeTransport) -> None:
        assert paired.get_extra_info("peername") == ("127.0.0.1", 9)
        assert paired.is_closing() is False
        paired.writelines([b"a", b"b"])
        paired.writelines([b"c"])

    assert _run(steps) == [b"abc"]
