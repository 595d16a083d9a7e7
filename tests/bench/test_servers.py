"""bench.servers: the ports the bench hands its servers."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from bench import servers


class _FakeSocket:
    """A socket whose bind(port 0) gets the next of ``offered``, as a kernel may offer."""

    offered: ClassVar[list[int]] = []

    def __enter__(self) -> _FakeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def bind(self, address: Any) -> None:
        self.port = self.offered.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_free_port_never_hands_out_a_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "_HANDED_OUT", set())
    monkeypatch.setattr(_FakeSocket, "offered", [50001, 50001, 50002, 50001, 50003])
    monkeypatch.setattr(servers.socket, "socket", _FakeSocket)
    assert [servers.free_port() for _ in range(3)] == [50001, 50002, 50003]
