"""The latency client: its percentiles against independent oracles, its response parsing,
and whole runs against a small keep-alive server on loopback (under a second each)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from bench.latency import LatencyResult, measure, percentile, request_bytes, response_status
from bench.loadgen import BenchError

PS = (0.1, 1, 25, 50, 75, 90, 99, 99.9, 100)


def _by_counting(values: list[int], p: float) -> int:
    """The definition itself: the smallest value with at least p % of the values <= it."""
    share = Fraction(str(p)) / 100
    return min(v for v in values if sum(x <= v for x in values) >= share * len(values))


@pytest.mark.parametrize("p", PS)
def test_percentile_matches_numpy_inverted_cdf_and_the_definition(p: float) -> None:
    rng = random.Random(int(p * 10))
    for n in (*range(1, 40), 99, 100, 101, 250, 1000):
        values = sorted(rng.randrange(10**6) for _ in range(n))
        got = percentile(values, p)
        assert got == _by_counting(values, p), (n, p)
        if (Fraction(str(p)) * n / 100).denominator != 1:  # numpy's q / 100 is a float:
            assert got == np.percentile(values, p, method="inverted_cdf"), (n, p)  # off by
            # one rank when p % of n is a whole number it cannot hit exactly (99.9 % of 1,000)


def test_percentile_by_hand() -> None:
    assert percentile([10, 20, 30, 40], 25) == 10
    assert percentile([10, 20, 30, 40], 26) == 20
    assert percentile([10, 20, 30, 40], 50) == 20
    assert percentile([10, 20, 30, 40], 75) == 30
    assert percentile([10, 20, 30, 40], 76) == 40
    assert percentile([10, 20, 30, 40], 100) == 40
    assert percentile([7], 0.1) == percentile([7], 100) == 7
    hundred = list(range(1, 101))
    assert (percentile(hundred, 50), percentile(hundred, 99), percentile(hundred, 99.5)) == (
        50,
        99,
        100,
    )
    thousand = list(range(1, 1001))
    assert percentile(thousand, 99.9) == 999  # 99.9 % of 1,000 is exactly 999 values
    assert percentile(thousand, 99.91) == 1000


@pytest.mark.parametrize("p", [0, -1, 100.01])
def test_percentile_refuses_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match="out of"):
        percentile([1, 2], p)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_result_figures_by_hand() -> None:
    ms = 1_000_000
    result = LatencyResult(
        times_ns=[[1 * ms, 3 * ms, 2 * ms], [4 * ms, 100 * ms]],
        spans_ns=[8 * ms, 110 * ms],
        errors=1,
    )
    assert result.requests == 5
    assert result.seconds == pytest.approx(0.110)
    assert result.rps == pytest.approx(5 / 0.110)
    assert result.p50_ms == 3.0  # 1, 2, [3], 4, 100
    assert result.p99_ms == result.max_ms == 100.0
    assert result.mean_ms == pytest.approx(110 / 5)
    assert result.coverage == pytest.approx(110 / 118)
    assert result.min_coverage == pytest.approx(6 / 8)


OK = b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 5\r\ncontent-type: x\r\n\r\nhello"


def test_response_status_waits_for_the_whole_response() -> None:
    for cut in range(len(OK)):
        assert response_status(bytearray(OK[:cut])) is None, cut
    assert response_status(bytearray(OK)) == 200
    upper = OK.replace(b"content-length", b"Content-Length").replace(b"200 OK", b"503 No")
    assert response_status(bytearray(upper)) == 503
    empty = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    assert response_status(bytearray(empty)) == 204


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nx: y\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n", "Length"),
        (OK + b"HTTP", "more bytes"),
        (OK.replace(b"server:", b"connection: close\r\nserver:"), "keep-alive"),
    ],
)
def test_response_status_refuses_what_it_cannot_time(response: bytes, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        response_status(bytearray(response))


def test_request_bytes() -> None:
    host, port, raw = request_bytes("http://127.0.0.1:8123/predict", b'{"a":1}')
    assert (host, port) == ("127.0.0.1", 8123)
    assert raw == (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8123\r\nContent-Type: application/json"
        b'\r\nContent-Length: 7\r\n\r\n{"a":1}'
    )
    for bad in ("https://127.0.0.1:1/x", "http://127.0.0.1/x", "127.0.0.1:1"):
        with pytest.raises(BenchError):
            request_bytes(bad, b"")


DELAY_S = 0.002


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[bytes]
    connections: list[int]

    def setup(self) -> None:
        super().setup()
        self.connections.append(1)

    def do_POST(self) -> None:
        self.seen.append(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(DELAY_S)
        body = b'{"ok":true}'
        self.send_response(503 if self.path == "/fail" else 200)
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], "connections": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_a_run_times_every_request_and_covers_the_run(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    result = measure(url + "/predict", b'{"x":1}', connections=3, seconds=0.5)
    assert result.errors == 0
    assert len(result.times_ns) == 3 and all(result.times_ns)
    assert handler.connections == [1, 1, 1]  # one keep-alive connection each
    assert handler.seen == [b'{"x":1}'] * result.requests  # every request answered and timed
    assert min(t for ts in result.times_ns for t in ts) >= DELAY_S * 1e9
    for times, span in zip(result.times_ns, result.spans_ns, strict=True):
        assert 0.5e9 <= span < 2e9  # requests are sent until the 0.5 s are up
        assert sum(times) <= span
    assert 0.8 < result.min_coverage <= result.coverage <= 1
    assert result.p50_ms <= result.p99_ms <= result.max_ms


def test_a_run_counts_other_statuses_as_errors(server: tuple[str, type[_Handler]]) -> None:
    url, _ = server
    result = measure(url + "/fail", b"{}", connections=2, seconds=0.2)
    assert result.requests > 0
    assert result.errors == result.requests


def test_a_run_fails_when_the_server_does_not_keep_the_connection(
    server: tuple[str, type[_Handler]],
) -> None:
    url, _ = server
    with pytest.raises(BenchError, match="keep-alive"):
        measure(url + "/close", b"{}", connections=1, seconds=0.2)


def test_a_run_fails_clearly_without_a_server() -> None:
    from bench.servers import free_port

    with pytest.raises(BenchError, match="cannot connect"):
        measure(f"http://127.0.0.1:{free_port()}/predict", b"{}", connections=1, seconds=0.1)
