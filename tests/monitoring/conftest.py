"""Fault injection for the prediction log: a full disk, damaged bytes, a held lock."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from petalflow.monitoring.prediction_log import PredictionLog, database

ROW = [5.1, 3.5, 1.4, 0.2]
CLASSES = ["setosa", "versicolor", "virginica"]
PROBA = [0.97, 0.02, 0.01]


def record(log: PredictionLog, request_id: str, row: list[float] = ROW) -> bool:
    """One single-row request."""
    return log.record(request_id, "1", [row], ["setosa"], CLASSES, [PROBA])


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` (the writer works in its own time); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def filled_log(path: Path, n: int = 300) -> None:
    """A closed log of ``n`` requests, checkpointed: every page is in the main file."""
    with PredictionLog(path, linger=0.01) as log:
        for i in range(n):
            record(log, f"r{i}", [float(i), 1.0, 2.0, 3.0])
        assert log.flush()


def damage(path: Path, where: str) -> None:
    """Overwrite bytes of a closed log: pages 2-5, 16 KB in the middle, or all of it."""
    data = bytearray(path.read_bytes())
    # The file's page size: header bytes 16-17, big-endian, 1 meaning 65536.
    page = int.from_bytes(data[16:18], "big")
    page = 65536 if page == 1 else page
    garbage = bytes(range(256)) * (4 * page // 256)
    if where == "pages_2_to_5":
        data[page : 5 * page] = garbage[: 4 * page]
    elif where == "middle":
        middle = len(data) // 2
        data[middle : middle + 16 * 1024] = garbage[: 16 * 1024]
    else:
        data = bytearray(garbage[: len(data)])
    path.write_bytes(bytes(data))


class DiskLimit:
    """Every log connection opened meanwhile is limited to ``pages`` pages (SQLite's
    ``max_page_count``): a full disk. ``pages = None`` lifts the limit (space freed);
    each connection applies the change in its own thread, before its next statement."""

    def __init__(self) -> None:
        self.pages: int | None = None

    def factory(self) -> type[sqlite3.Connection]:
        limit = self

        class Limited(sqlite3.Connection):
            applied: int | None = None

            def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
                wanted = limit.pages or 2**30
                if self.applied != wanted:
                    self.applied = wanted
                    super().execute(f"PRAGMA max_page_count = {wanted}")
                return super().execute(sql, *args)  # type: ignore[arg-type]

        return Limited


@pytest.fixture()
def disk_limit(monkeypatch: pytest.MonkeyPatch) -> DiskLimit:
    """Opened log connections obey ``DiskLimit.pages``."""
    limit = DiskLimit()
    factory = limit.factory()

    def open_limited(path: Path, timeout: float, create: bool = True) -> sqlite3.Connection:
        target: object = path if create else f"{path.absolute().as_uri()}?mode=rw"
        conn = sqlite3.connect(  # type: ignore[call-overload]
            target, timeout=timeout, isolation_level=None, uri=not create, factory=factory
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    monkeypatch.setattr(database, "open_connection", open_limited)
    return limit


def page_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()
