"""The prediction log's retention cost in one process: what a prune takes per logged row.

    python bench/log_prunes.py [--max-rows 100000] [--prune-every 10000] [--reps 5]

It fills a log in a temporary folder with ``--max-rows`` single-row Iris requests, then
``--reps`` times writes ``--prune-every`` more and prunes back to ``--max-rows``, as the
server's writer thread does: its survey of the rows to prune from (unlocked), the prune
(the count of the rows since, the oldest request to keep, the delete and the commit) and
a checkpoint of the WAL. The survey is taken both ways, alternating: counting every row,
and counting only the rows written since the last prune left the log (``retention.survey``
given it, as the writer's ``retention.Counter`` does on all prunes but the first and every
``RECOUNT_PRUNES``-th after it). Prints the median CPU time of each part, per prune and
per logged row.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import BenchError
from bench.log_writes import CLASSES
from petalflow.monitoring.prediction_log import PredictionLog, retention

PARTS = ("survey, every row", "survey, rows since", "prune", "checkpoint")


def fill(path: Path, start: int, n: int) -> None:
    """Log requests ``start`` to ``start + n - 1`` (one Iris row each) and write them."""
    features, probabilities = [[5.1, 3.5, 1.4, 0.2]], [[0.97, 0.02, 0.01]]
    with PredictionLog(path, linger=3600, max_rows=2**62, max_pending=n + 1) as log:
        for i in range(start, start + n):
            log.record(f"{i:024x}", "0" * 32, features, ["setosa"], CLASSES, probabilities)
        if not log.flush():
            raise BenchError(f"could not write {n} requests to {path}")


def cpu_ms(call: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """The CPU milliseconds of ``call(*args)`` in this process, and its result."""
    start = time.process_time()
    result = call(*args)
    return (time.process_time() - start) * 1e3, result


def measure(max_rows: int, prune_every: int, reps: int) -> dict[str, list[float]]:
    """Each part's CPU milliseconds per prune, ``reps`` prunes of each survey."""
    times: dict[str, list[float]] = {part: [] for part in PARTS}
    with tempfile.TemporaryDirectory(prefix="petalflow-log-prunes-") as tmp:
        path = Path(tmp) / "log.db"
        fill(path, 0, max_rows)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            after, logged = retention.prune_counted(conn, max_rows, path).after, max_rows
            for rep in range(2 * reps):
                fill(path, logged, prune_every)
                logged += prune_every
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as the thread does each s
                every_row = rep % 2 == 0
                known = None if every_row else after
                ms, seen = cpu_ms(retention.survey, conn, known)
                times[PARTS[0] if every_row else PARTS[1]].append(ms)
                ms, pruned = cpu_ms(retention.prune_counted, conn, max_rows, path, seen)
                if pruned.deleted != prune_every:
                    raise BenchError(f"the prune deleted {pruned.deleted} rows, not {prune_every}")
                times[PARTS[2]].append(ms)
                after = pruned.after
                times[PARTS[3]].append(cpu_ms(conn.execute, "PRAGMA wal_checkpoint")[0])
        finally:
            conn.close()
    return times


def table(times: dict[str, list[float]], prune_every: int) -> str:
    """A Markdown table of each part's median, per prune and per logged row."""
    lines = ["| part | CPU per prune | per logged row |", "|---|--:|--:|"]
    for part, done in times.items():
        ms = statistics.median(done)
        lines.append(f"| {part} | {ms:.1f} ms | {ms / prune_every * 1e3:.2f} us |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-rows", type=int, default=100_000, help="rows the log keeps")
    p.add_argument("--prune-every", type=int, default=10_000, help="rows between prunes")
    p.add_argument("--reps", type=int, default=5, help="prunes of each kind of survey")
    args = p.parse_args(argv)
    if min(args.max_rows, args.prune_every, args.reps) < 1:
        p.error("--max-rows, --prune-every and --reps must be >= 1")
    print(table(measure(args.max_rows, args.prune_every, args.reps), args.prune_every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
