"""Driving a server with wrk: finding or installing wrk, one bounded run, its figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "post.lua"
INSTALL_HINT = (
    "wrk (the HTTP load generator) is not installed; install it with "
    "`sudo apt-get install -y wrk` (Debian/Ubuntu), `brew install wrk` (macOS), "
    "or build it from https://github.com/wg/wrk, then rerun"
)


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


@dataclass(frozen=True)
class WrkResult:
    """The figures of one wrk run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def ensure_wrk() -> str:
    """The wrk executable; installs the Debian package when root, else exits 2 with how-to."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk not found; installing it: apt-get update && apt-get install -y wrk", flush=True)
        for args in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
            done = subprocess.run(args, check=False, timeout=600)
            if done.returncode != 0:
                break
        found = shutil.which("wrk")
        if found:
            return found
    print(INSTALL_HINT, file=sys.stderr)
    raise SystemExit(2)


def threads_for(connections: int) -> int:
    """wrk threads: one for a single connection, two (the machine's cores) otherwise."""
    return 1 if connections <= 1 else 2


def run_wrk(
    wrk: str, url: str, body_file: Path, connections: int, seconds: float, raw: Path
) -> WrkResult:
    """One wrk run of ``seconds`` against ``url``; the full output is saved to ``raw``."""
    args = [
        wrk,
        f"-t{threads_for(connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(body_file),
    ]
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {seconds + 60:.0f} s: {url}") from exc
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(f"$ {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}) on {url}: {done.stderr.strip()}")
    return parse_summary(done.stdout, url)


def parse_summary(output: str, url: str = "") -> WrkResult:
    """The BENCH_JSON line printed by post.lua's done()."""
    lines = [line for line in output.splitlines() if line.startswith("BENCH_JSON ")]
    if not lines:
        raise BenchError(f"no BENCH_JSON summary in wrk's output for {url}:\n{output[-2000:]}")
    data = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    errors = sum(
        int(data[key])
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return WrkResult(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        p50_ms=int(data["p50_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
        errors=errors,
    )
