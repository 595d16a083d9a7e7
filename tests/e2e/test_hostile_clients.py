"""Hostile clients against a real `uvicorn serve:app` run with the shipped client limits.

The uvicorn flags are the Makefile's ``UVICORN_LIMITS`` (the Dockerfile and the docs must
say the same, checked first); the deadlines are shortened to 2 s through the environment.
Slow clients are raw loopback sockets that stall or send a byte at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, ServerProcess, makefile_limits, python_env, uvicorn_args

DEADLINE_S = 2
GENEROUS_S = 15  # how long a test waits for what should take DEADLINE_S
GOOD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
POST_HEAD = (
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n"
)
SLOW_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 10_000
SLOW_CLIENTS = 500


def with_flag(flags: list[str], name: str, value: str) -> list[str]:
    index = flags.index(name)
    return [*flags[: index + 1], value, *flags[index + 2 :]]


def test_serve_flags_are_the_same_in_the_makefile_dockerfile_and_docs() -> None:
    flags = makefile_limits()
    assert flags[:2] == ["--http", "serve:HttpProtocol"]
    for name in ("--limit-concurrency", "--timeout-keep-alive", "--timeout-graceful-shutdown"):
        assert name in flags
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", "")
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)[-1])
    assert cmd == ["uvicorn", "serve:app", "--host", "0.0.0.0", "--port", "8000", *flags]
    documented = f"uvicorn serve:app --host 0.0.0.0 --port 8000 {' '.join(flags)}"
    for doc in ("README.md", "docs/serving.md"):
        lines = (ROOT / doc).read_text().splitlines()
        assert documented in lines, f"{doc} does not document: {documented}"
    make = subprocess.run(
        ["make", "-n", "serve"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert f"serve:app --host 0.0.0.0 --port 8000 {' '.join(flags)}" in make.stdout


def _raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def server(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with the shipped flags and 2 s deadlines, shared by the module's tests."""
    _raise_open_files_limit(4 * SLOW_CLIENTS)  # inherited by the server
    tmp = tmp_path_factory.mktemp("hostile")
    env = python_env(
        ARTIFACTS_DIR=str(trained),
        PREDICTION_LOG=str(tmp / "predictions.db"),
        HEADER_TIMEOUT_SECONDS=str(DEADLINE_S),
        BODY_TIMEOUT_SECONDS=str(DEADLINE_S),
    )
    process = ServerProcess(uvicorn_args(*makefile_limits()), env, ROOT, tmp / "server.log")
    try:
        process.wait_healthy()
        yield process
    finally:
        process.stop()


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=GENEROUS_S)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    sock.close()
    return data


def _error(response: bytes, status: int) -> dict[str, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), response[:200]
    assert b"connection: close" in head.lower()
    return dict(json.loads(body))


@pytest.mark.e2e
def test_uvicorn_answers_408_and_closes_when_a_head_or_body_stalls(server: ServerProcess) -> None:
    body = _connect(server)
    body.sendall(POST_HEAD + b'{"sepal_length": 5.1')
    head = _connect(server)
    head.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    idle = _connect(server)
    started = time.monotonic()

    body_error = _error(_until_closed(body), 408)
    assert body_error["error"] == "request_timeout"
    assert "BODY_TIMEOUT_SECONDS" in body_error["message"]
    assert time.monotonic() - started > DEADLINE_S / 2  # not before its deadline
    head_error = _error(_until_closed(head), 408)
    assert head_error["error"] == "request_timeout"
    assert "HEADER_TIMEOUT_SECONDS" in head_error["message"]
    assert _until_closed(idle) == b""  # an idle connection is closed without an answer
    named = body_error["request_id"]
    logged = server.json_lines(until=lambda lines: any(x.get("request_id") == named for x in lines))
    assert any(line.get("request_id") == body_error["request_id"] for line in logged)
    assert any("HEADER_TIMEOUT_SECONDS" in str(line.get("message")) for line in logged)


@pytest.mark.e2e
def test_uvicorn_refuses_a_1_mb_header(server: ServerProcess) -> None:
    sock = _connect(server)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (1 << 20))
        sock.sendall(b"\r\n\r\n")
    response = _until_closed(sock)
    # The 431 is sent; the kernel may drop it for a reset, since the rest went unread.
    if response:
        assert _error(response, 431)["error"] == "header_too_large"
    time.sleep(0.2)
    assert any("MAX_HEADER_BYTES" in str(line.get("message")) for line in server.json_lines())
    assert httpx.get(server.url + "/health").status_code == 200


_HEAD = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "request_bytes",
    [
        _HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        _HEAD + b"Content-Length: abc\r\n\r\n{}",
        _HEAD + b"Bad Header: 1\r\nContent-Length: 2\r\n\r\n{}",
        _HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",  # chunk size
    ],
    ids=["length-and-chunked", "length-not-a-number", "space-in-a-header-name", "bad-chunk"],
)
def test_uvicorn_answers_unparsable_http_in_the_json_error_format(
    server: ServerProcess, request_bytes: bytes
) -> None:
    sock = _connect(server)
    sock.sendall(request_bytes)
    error = _error(_until_closed(sock), 400)
    assert error["error"] == "malformed_http"
    assert error["message"].startswith("Invalid HTTP request received; send a well-formed")
    assert httpx.get(server.url + "/health").status_code == 200


@pytest.mark.e2e
def test_a_malformed_chunk_after_the_head_is_answered_and_logged_as_one_400(
    server: ServerProcess,
) -> None:
    # The head is read (the request has its id) before the body turns out malformed: the
    # answer carries the id, and the access line says 400 (it said 499, "client gone").
    sock = _connect(server)
    sock.sendall(_HEAD + b"X-Request-ID: bad-chunk-1\r\nTransfer-Encoding: chunked\r\n\r\n")
    server.json_lines(until=lambda lines: False, timeout=0.3)  # the app has started it
    sock.sendall(b"zz\r\n{}\r\n0\r\n\r\n")
    response = _until_closed(sock)
    assert b"\r\nx-request-id: bad-chunk-1\r\n" in response.partition(b"\r\n\r\n")[0]
    error = _error(response, 400)
    assert (error["error"], error["request_id"]) == ("malformed_http", "bad-chunk-1")
    lines = server.json_lines(
        until=lambda lines: any(x.get("request_id") == "bad-chunk-1" for x in lines)
    )
    logged = [x["status"] for x in lines if x.get("request_id") == "bad-chunk-1" and "status" in x]
    assert logged == [400]


@pytest.mark.e2e
def test_uvicorn_never_answers_an_earlier_pipelined_request_with_a_later_ones_400(
    server: ServerProcess,
) -> None:
    sock = _connect(server)
    first = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sock.sendall(first + b"GET /health HTTP/1.1\r\nBad Header: 1\r\n\r\n")
    response = _until_closed(sock)
    # The first request's answer may be lost with the connection; it is never the 400.
    assert not response.startswith(b"HTTP/1.1 400"), response[:200]
    assert httpx.get(server.url + "/health").status_code == 200


class Tricklers:
    """Slow clients: half send a head, half a body, one byte per connection per 0.1 s."""

    def __init__(self, server: ServerProcess, count: int) -> None:
        self.pending: dict[socket.socket, bytes] = {}
        self.answers: dict[str, list[bytes]] = {"head": [], "body": []}
        self.kinds: dict[socket.socket, str] = {}
        for i in range(count):
            sock = _connect(server)
            if i % 2:
                sock.sendall(POST_HEAD)
            sock.setblocking(False)
            self.pending[sock] = SLOW_HEAD if i % 2 == 0 else b"1" * 1000
            self.kinds[sock] = "head" if i % 2 == 0 else "body"
        self.received = {sock: b"" for sock in self.pending}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + GENEROUS_S
        while self.pending and time.monotonic() < deadline:
            for sock in list(self.pending):
                self._step(sock)
            time.sleep(0.1)

    def _step(self, sock: socket.socket) -> None:
        try:
            while chunk := sock.recv(65536):
                self.received[sock] += chunk
        except BlockingIOError:  # still open: one more byte
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                rest = self.pending[sock]
                sock.send(rest[:1])
                self.pending[sock] = rest[1:]
            return
        except ConnectionResetError:
            pass
        del self.pending[sock]  # closed by the server
        self.answers[self.kinds[sock]].append(self.received[sock])
        sock.close()


@pytest.mark.e2e
def test_uvicorn_keeps_answering_while_500_connections_trickle(server: ServerProcess) -> None:
    tricklers = Tricklers(server, SLOW_CLIENTS)
    tricklers.thread.start()
    try:
        with httpx.Client(base_url=server.url, timeout=GENEROUS_S) as client:
            for _ in range(10):  # well inside the slow clients' deadline
                assert client.get("/health").status_code == 200
                assert client.post("/predict", json=GOOD).status_code == 200
        assert len(tricklers.pending) == SLOW_CLIENTS  # they were all still there meanwhile
    finally:
        tricklers.thread.join(GENEROUS_S + 5)
    assert not tricklers.pending, f"{len(tricklers.pending)} slow connections still open"
    for kind, setting in (("head", "HEADER_TIMEOUT_SECONDS"), ("body", "BODY_TIMEOUT_SECONDS")):
        answers = tricklers.answers[kind]
        assert len(answers) == SLOW_CLIENTS // 2
        for answer in answers:
            error = _error(answer, 408)
            assert error["error"] == "request_timeout" and setting in error["message"]


@pytest.mark.e2e
def test_uvicorn_at_its_connection_limit_refuses_one_more_and_exits_on_sigterm(
    start_server: Callable[..., ServerProcess], trained: Path
) -> None:
    """One connection stalls mid-body, two are idle: the limit (4) refuses the next one,
    and SIGTERM ends the server within the graceful-shutdown timeout, stall or not."""
    flags = with_flag(makefile_limits(), "--timeout-graceful-shutdown", "1")
    flags = with_flag(flags, "--limit-concurrency", "4")
    # A body deadline far away: only the graceful-shutdown timeout can end the request.
    env = {"ARTIFACTS_DIR": str(trained), "BODY_TIMEOUT_SECONDS": "600"}
    server = start_server(env, args=uvicorn_args(*flags))
    stalled = _connect(server)
    stalled.sendall(POST_HEAD + b'{"sepal_length": 5.1')
    held = [_connect(server), _connect(server)]
    for sock in held:  # answered, so the stalled head (sent first) is in as well
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    error = _error(_until_closed(_connect(server)), 503)
    assert error["error"] == "overloaded" and "retry" in error["message"]

    os.kill(server.proc.pid, signal.SIGTERM)
    # Waits far less than the client would stall: the server must not wait for it.
    returncode = server.proc.wait(timeout=GENEROUS_S)
    assert returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    output = server.output()
    assert "timeout graceful shutdown exceeded" in output
    assert "Finished server process" in output
    for sock in (stalled, *held):
        sock.close()
