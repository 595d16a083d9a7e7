"""The prediction log's write cost in one process, by page size and rows per slice.

    python bench/log_writes.py [--requests 20000] [--rows-per-request 1]
        [--checkpoint-every 7500] [--insert-every 2000] [--reps 9]
        [--configs 65536:30,4096:30,4096:45,4096:60]

Each configuration (``PAGE:ROWS``) queues ``--requests`` Iris requests of
``--rows-per-request`` rows in a new log in a temporary folder, then writes them as the
server does: the event loop encodes them in slices (``encode_slice``: at most ROWS rows,
or one larger request), the writer thread inserts the encoded slices in one transaction
every ``--insert-every`` requests (2,000: about one 0.25 s period at 8,000 requests/s),
and checkpoints the WAL every ``--checkpoint-every`` requests as it does once a second
(7,500 single rows or ~300 batches of 1,000). Here all of it runs in one thread, one
after the other. It reports the CPU time per request (encode, insert, commit and
checkpoint: process time), the part of it the loop's slices take, and the median and
99th percentile of a slice's wall time, each the median over ``--reps`` rounds that
alternate the configurations' order. The page size and the rows per slice are module
constants of the log; they are set for each run and restored after.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):  # run as a script: make `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.latency import percentile
from bench.loadgen import BenchError
from petalflow.monitoring.prediction_log import PredictionLog, database, schema
from petalflow.monitoring.prediction_log import writer as writer_module

CLASSES = ["setosa", "versicolor", "virginica"]
PAGE_SIZES = [2**k for k in range(9, 17)]  # what SQLite accepts: 512 to 65536
BUSY_SLICES = 100  # slices in a row refused (the inserts could not keep up): give up


class Config(NamedTuple):
    page_size: int
    slice_rows: int


class Load(NamedTuple):
    """What each run writes: ``requests`` of ``rows`` rows, the thread's insert every
    ``insert_every`` requests and a checkpoint every ``checkpoint_every``."""

    requests: int
    rows: int
    checkpoint_every: int
    insert_every: int


class Run(NamedTuple):
    """One configuration's run: CPU per request (us), slice p50 and p99 (ms), the slices,
    what the file holds afterwards (requests, page size), and the loop's CPU per request
    (us, its slices)."""

    cpu_us: float
    slice_p50_ms: float
    slice_p99_ms: float
    slices: int
    requests: int
    page_size: int
    loop_us: float


def parse_config(text: str) -> Config:
    """``PAGE:ROWS``, e.g. ``4096:45``: a page size SQLite accepts, at least one row."""
    page, _, rows = text.partition(":")
    try:
        config = Config(int(page), int(rows))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not PAGE:ROWS, e.g. 4096:45") from None
    if config.page_size not in PAGE_SIZES or config.slice_rows < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: PAGE must be a power of two from 512 to 65536, ROWS at least 1"
        )
    return config


@contextmanager
def configured(config: Config) -> Iterator[None]:
    """The log's page size and rows per slice set to ``config`` inside the block."""
    before = schema.PAGE_SIZE, writer_module._LOOP_CHUNK
    schema.PAGE_SIZE, writer_module._LOOP_CHUNK = config
    try:
        yield
    finally:
        schema.PAGE_SIZE, writer_module._LOOP_CHUNK = before


def run_once(config: Config, load: Load, folder: Path) -> Run:
    """Queue ``load``'s requests in a new log in ``folder``, then encode them in the event
    loop's slices and insert them as the thread does; the costs and what the file holds."""
    rng = np.random.default_rng(0)
    features = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], (load.rows, 4))
    proba = rng.dirichlet([1.0, 1.0, 1.0], load.rows)
    labels = [CLASSES[k] for k in proba.argmax(axis=1)]
    path = folder / f"log-{config.page_size}-{config.slice_rows}.db"
    # linger: the writer thread sleeps until close (its last drain then finds nothing).
    with configured(config), PredictionLog(path, linger=3600) as log:
        writer = log._writer
        writer._loop_writing = True  # as in the server: the "loop" below encodes
        with database.connect(path, 5.0) as conn:
            for i in range(load.requests):
                request_id = f"{time.time_ns():016x}{i:08x}"
                log.record(request_id, "0" * 32, features, labels, CLASSES, proba)
            slices, cpu, loop_cpu = _write_all(writer, conn, load)
    with sqlite3.connect(path) as check:
        written = int(check.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
        page_size = int(check.execute("PRAGMA page_size").fetchone()[0])
    slices.sort()
    p50, p99 = percentile(slices, 50) / 1e6, percentile(slices, 99) / 1e6
    per_request = 1e6 / load.requests
    return Run(cpu * per_request, p50, p99, len(slices), written, page_size, loop_cpu * per_request)


def _write_all(
    writer: writer_module.Writer, conn: sqlite3.Connection, load: Load
) -> tuple[list[int], float, float]:
    """Encode the queue slice by slice, inserting and checkpointing as the thread would:
    each slice's wall time in nanoseconds, the CPU seconds of it all and of the slices."""
    walls: list[int] = []
    encoded, inserted, checkpointed, busy = 0, 0, 0, 0
    cpu, loop_cpu = time.process_time(), 0.0
    while writer.pending:
        start, started = time.perf_counter_ns(), time.process_time()
        took = writer.encode_slice()
        walls.append(time.perf_counter_ns() - start)
        loop_cpu += time.process_time() - started
        busy = busy + 1 if took < 0 else 0
        if busy == BUSY_SLICES:
            raise BenchError(f"the inserts did not keep up for {BUSY_SLICES} slices")
        encoded += max(took, 0)
        if encoded - inserted >= load.insert_every or not writer.pending:
            with writer._lock:
                if not writer._insert_encoded(conn):
                    raise BenchError("the log's file stayed locked")
            inserted = encoded
        if inserted - checkpointed >= load.checkpoint_every:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            checkpointed = inserted
    return walls, time.process_time() - cpu, loop_cpu


def compare(configs: list[Config], load: Load, reps: int) -> dict[Config, list[Run]]:
    """``reps`` rounds of every configuration, alternating their order."""
    runs: dict[Config, list[Run]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="petalflow-log-writes-") as tmp:
        for rep in range(reps):
            for config in configs if rep % 2 == 0 else configs[::-1]:
                folder = Path(tmp) / f"rep{rep}"
                folder.mkdir(exist_ok=True)
                runs[config].append(run_once(config, load, folder))
    return runs


def table(runs: dict[Config, list[Run]]) -> str:
    """A Markdown table of the medians."""
    lines = [
        "| page size | rows per slice | CPU per request | of it, the loop's | slice p50 "
        "| slice p99 |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for config, done in runs.items():
        cpu = statistics.median(r.cpu_us for r in done)
        loop = statistics.median(r.loop_us for r in done)
        p50 = statistics.median(r.slice_p50_ms for r in done)
        p99 = statistics.median(r.slice_p99_ms for r in done)
        lines.append(
            f"| {config.page_size} | {config.slice_rows} | {cpu:.1f} us | {loop:.1f} us "
            f"| {p50:.3f} ms | {p99:.3f} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000, help="requests per run")
    p.add_argument("--rows-per-request", type=int, default=1, help="rows of each request")
    p.add_argument(
        "--checkpoint-every", type=int, default=7_500, help="requests between checkpoints"
    )
    p.add_argument(
        "--insert-every", type=int, default=2_000, help="requests between the thread's inserts"
    )
    p.add_argument("--reps", type=int, default=9, help="rounds, alternating the order")
    p.add_argument(
        "--configs",
        type=lambda s: [parse_config(c) for c in s.split(",")],
        default=[Config(65536, 30), Config(4096, 30), Config(4096, 45), Config(4096, 60)],
        help="comma-separated PAGE:ROWS",
    )
    args = p.parse_args(argv)
    load = Load(args.requests, args.rows_per_request, args.checkpoint_every, args.insert_every)
    if min(*load, args.reps) < 1:
        p.error(
            "--requests, --rows-per-request, --checkpoint-every, --insert-every and --reps "
            "must be >= 1"
        )
    print(table(compare(args.configs, load, args.reps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
