"""The latency client: p50, p99 and the maximum from request times that add up to the run.

``N`` connections, each a closed loop over one persistent HTTP/1.1 connection: send a
request, read the whole response, send the next. All connections share one process and
one ``poll`` loop on blocking sockets (no threads, no asyncio), so the client costs
little CPU on the cores the server also uses, and its garbage collector is off for the
run. A request is timed with ``time.perf_counter_ns`` from just before its bytes are sent
to just after the last byte of its response is read. A response that arrives while the
client is busy with another connection counts that wait too: time is never left out.

The self-check: the request times of one connection are disjoint stretches of its run,
so their sum is at most the run and, when the client is not the bottleneck, close to it.
``coverage`` is that ratio over all connections (the lowest connection's is kept too).

``python bench/latency.py --url http://127.0.0.1:8000/predict --body flower.json``
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import select
import socket
import sys
import time
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import BenchError

IDLE_TIMEOUT_S = 30.0  # no response on any connection for this long: the run fails


def percentile(sorted_values: list[int], p: float) -> int:
    """The nearest-rank percentile: the smallest value with at least p % of values <= it.

    Always a measured value (no interpolation), like wrk's HdrHistogram; the same as
    ``numpy.percentile(values, p, method="inverted_cdf")``. ``p`` is exact as written
    (99.9 is 999/10, not the nearest float).
    """
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile out of (0, 100]: {p}")
    rank = math.ceil(Fraction(str(p)) * len(sorted_values) / 100)
    return sorted_values[max(rank, 1) - 1]


@dataclass(frozen=True)
class LatencyResult:
    """One run's figures; times in nanoseconds, one list per connection."""

    times_ns: list[list[int]]
    spans_ns: list[int]  # per connection: from the run's start to its last response
    errors: int  # responses other than 200

    @property
    def requests(self) -> int:
        return sum(len(t) for t in self.times_ns)

    @property
    def seconds(self) -> float:
        return max(self.spans_ns, default=0) / 1e9

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def _ms(self, p: float) -> float:
        return percentile(sorted(t for ts in self.times_ns for t in ts), p) / 1e6

    @property
    def p50_ms(self) -> float:
        return self._ms(50)

    @property
    def p99_ms(self) -> float:
        return self._ms(99)

    @property
    def max_ms(self) -> float:
        return max(max(ts) for ts in self.times_ns) / 1e6

    @property
    def mean_ms(self) -> float:
        return sum(sum(ts) for ts in self.times_ns) / self.requests / 1e6

    @property
    def coverage(self) -> float:
        """Sum of all request times over the sum of the connections' runs (<= 1)."""
        return sum(sum(ts) for ts in self.times_ns) / sum(self.spans_ns)

    @property
    def min_coverage(self) -> float:
        return min(sum(ts) / span for ts, span in zip(self.times_ns, self.spans_ns, strict=True))


def request_bytes(url: str, body: bytes) -> tuple[str, int, bytes]:
    """Host, port and the raw bytes of one keep-alive POST of a JSON body to ``url``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise BenchError(f"need http://host:port/path, not {url!r}")
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return parts.hostname, parts.port, head.encode("ascii") + body


def response_status(buf: bytearray) -> int | None:
    """The status of the one complete response in ``buf``; None while it is incomplete."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buf[:head_end]).lower()
    at = head.find(b"\r\ncontent-length:")
    if at < 0 or b"\r\ntransfer-encoding:" in head:
        raise BenchError(f"response without a Content-Length: {head[:300]!r}")
    line_end = head.find(b"\r\n", at + 2)
    length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
    total = head_end + 4 + length
    if len(buf) < total:
        return None
    if len(buf) > total:
        raise BenchError("more bytes than one response: the server answered unasked")
    if b"\r\nconnection: close" in head:
        raise BenchError("the server closes the connection: not a keep-alive run")
    return int(head[9:12])


@dataclass
class _Conn:
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    sent_ns: int = 0
    last_ns: int = 0
    times: array[int] = field(default_factory=lambda: array("q"))


def _connect(host: str, port: int, n: int) -> list[_Conn]:
    conns = []
    try:
        for _ in range(n):
            sock = socket.create_connection((host, port), timeout=IDLE_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns.append(_Conn(sock))
    except OSError as exc:
        for conn in conns:
            conn.sock.close()
        raise BenchError(f"cannot connect to {host}:{port}: {exc}") from exc
    return conns


def _loop(conns: list[_Conn], request: bytes, seconds: float) -> tuple[int, int]:
    """Drive every connection until ``seconds`` have passed; (start ns, errors)."""
    poller = select.poll()  # a few sockets: cheaper per call than epoll's selectors wrapper
    by_fd = {conn.sock.fileno(): conn for conn in conns}
    errors = 0
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(seconds * 1e9)
    for fd, conn in by_fd.items():
        poller.register(fd, select.POLLIN)
        conn.sent_ns = clock()
        conn.sock.sendall(request)
    running = len(conns)
    while running:
        ready = poller.poll(IDLE_TIMEOUT_S * 1000)
        if not ready:
            raise BenchError(f"no response within {IDLE_TIMEOUT_S:.0f} s")
        for fd, _ in ready:
            conn = by_fd[fd]
            chunk = conn.sock.recv(1 << 16)
            if not chunk:
                raise BenchError("the server closed a connection")
            conn.buf += chunk
            status = response_status(conn.buf)
            if status is None:
                continue
            now = clock()
            conn.times.append(now - conn.sent_ns)
            conn.last_ns = now
            errors += status != 200
            conn.buf.clear()
            if now >= deadline:
                poller.unregister(fd)
                running -= 1
                continue
            conn.sent_ns = clock()
            conn.sock.sendall(request)
    return start, errors


def measure(url: str, body: bytes, connections: int, seconds: float) -> LatencyResult:
    """``connections`` closed loops against ``url`` for ``seconds``, one process."""
    if connections < 1 or seconds <= 0:
        raise ValueError("need at least one connection and a positive duration")
    host, port, request = request_bytes(url, body)
    conns = _connect(host, port, connections)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # the client's own collections would stall every connection at once
    try:
        start, errors = _loop(conns, request, seconds)
    except OSError as exc:
        raise BenchError(f"latency run against {url} failed: {exc}") from exc
    finally:
        if enabled:
            gc.enable()
        for conn in conns:
            conn.sock.close()
    return LatencyResult(
        times_ns=[c.times.tolist() for c in conns],
        spans_ns=[c.last_ns - start for c in conns],
        errors=errors,
    )


def summary(result: LatencyResult) -> dict[str, float]:
    """The figures of one run, rounded for a report or a JSON line."""
    return {
        "requests": result.requests,
        "seconds": round(result.seconds, 3),
        "rps": round(result.rps, 1),
        "errors": result.errors,
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "max_ms": round(result.max_ms, 3),
        "mean_ms": round(result.mean_ms, 3),
        "coverage": round(result.coverage, 4),
        "min_coverage": round(result.min_coverage, 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT/predict")
    p.add_argument("--body", type=Path, required=True, help="file with the JSON body")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    try:
        result = measure(args.url, args.body.read_bytes(), args.connections, args.seconds)
    except BenchError as exc:
        print(f"latency run failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
