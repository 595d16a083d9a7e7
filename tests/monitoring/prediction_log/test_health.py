"""The log's health: reasons, one warning per episode, drops remembered by request id."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from petalflow.monitoring.prediction_log import health
from petalflow.monitoring.prediction_log.health import Health, reason_of


class Recorder:
    """A HealthObserver that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def log_dropped(self, reason: str, rows: int) -> None:
        self.calls.append(("dropped", (reason, rows)))

    def log_written(self, at: float) -> None:
        self.calls.append(("written", at))

    def log_up(self, up: bool) -> None:
        self.calls.append(("up", up))


def sqlite_error(code: int) -> sqlite3.Error:
    exc = sqlite3.OperationalError("boom")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (sqlite_error(sqlite3.SQLITE_FULL), "disk_full"),
        (sqlite_error(sqlite3.SQLITE_BUSY), "locked"),
        (sqlite_error(sqlite3.SQLITE_LOCKED), "locked"),
        (sqlite_error(sqlite3.SQLITE_CORRUPT), "damaged"),
        (sqlite_error(sqlite3.SQLITE_NOTADB), "damaged"),
        (sqlite_error(sqlite3.SQLITE_READONLY), "unwritable"),
        (sqlite_error(sqlite3.SQLITE_IOERR | (3 << 8)), "unwritable"),  # an extended code
        (sqlite_error(sqlite3.SQLITE_CORRUPT | (1 << 8)), "damaged"),
        (FileNotFoundError("gone"), "moved"),
        (PermissionError("no"), "unwritable"),
    ],
)
def test_reason_of_maps_errors_to_drop_reasons(exc: BaseException, reason: str) -> None:
    assert reason_of(exc) == reason


def test_reason_of_real_sqlite_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all " * 500)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        sqlite3.connect(garbage).execute("SELECT * FROM sqlite_master").fetchall()
    assert reason_of(raised.value) == "damaged"


def test_health_starts_up_with_nothing_dropped() -> None:
    state = Health(Path("p.db"))
    assert state.up and state.reason is None
    assert state.report() == {
        "status": "ok",
        "reason": None,
        "degraded_since": None,
        "last_write": None,
        "dropped": {},
    }


def test_health_one_warning_per_episode_and_one_on_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observer = Recorder()
    state = Health(Path("p.db"), observer)
    with caplog.at_level(logging.WARNING, logger=health.__name__):
        for _ in range(50):  # fifty failing drains: one line
            state.fail("disk_full", "database or disk is full")
        state.drop(["a", "b"], 3, "disk_full")
        state.wrote(1_000.0)
        state.wrote(1_001.0)  # already up: no line
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "degraded (disk_full: database or disk is full)" in lines[0] and "p.db" in lines[0]
    assert "recovered" in lines[1] and "3 predictions were dropped" in lines[1]
    assert state.up and state.last_write == 1_001.0
    ups = [value for kind, value in observer.calls if kind == "up"]
    assert ups == [False, True]
    assert ("dropped", ("disk_full", 3)) in observer.calls


def test_health_a_new_reason_in_an_episode_is_logged_and_keeps_the_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = Health(Path("p.db"))
    with caplog.at_level(logging.WARNING, logger=health.__name__):
        state.fail("locked")
        since = state.since
        state.fail("damaged")
    assert len(caplog.records) == 2
    assert state.reason == "damaged" and state.since == since
    report = state.report()
    assert report["status"] == "degraded" and report["reason"] == "damaged"
    assert report["degraded_since"] is not None and report["degraded_since"].endswith("+00:00")


def test_health_counts_drops_by_reason_and_remembers_their_ids() -> None:
    state = Health(Path("p.db"))
    state.drop(["r1"], 1, "queue_full")
    state.drop(["r2", "r3"], 7, "disk_full")
    state.drop(["r4"], 2, "disk_full")
    assert state.report()["dropped"] == {"disk_full": 9, "queue_full": 1}
    assert state.why_dropped("r3") == "disk_full" and state.why_dropped("r1") == "queue_full"
    assert state.why_dropped("never") is None


def test_health_remembers_a_bounded_number_of_dropped_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "_REMEMBERED_DROPS", 3)
    state = Health(Path("p.db"))
    state.drop([f"r{i}" for i in range(5)], 5, "locked")
    assert [state.why_dropped(f"r{i}") for i in range(5)] == [None, None, *["locked"] * 3]
    assert state.dropped["locked"] == 5  # counted, even if no longer remembered
