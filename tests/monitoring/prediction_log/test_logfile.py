"""The log's file: damaged at start-up (refused, or moved aside), moved or deleted while
the server writes it (recreated, nothing answers 500)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from petalflow.core.errors import PredictionLogError
from petalflow.monitoring.prediction_log import PredictionLog, logfile
from petalflow.monitoring.prediction_log.logfile import quick_check
from tests.monitoring.conftest import damage, filled_log, record, wait_for


def test_quick_check_passes_a_sound_log_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    assert quick_check(path) is None
    filled_log(path)
    assert quick_check(path) is None


@pytest.mark.parametrize("where", ["pages_2_to_5", "middle", "whole_file"])
def test_prediction_log_start_refuses_a_damaged_file(tmp_path: Path, where: str) -> None:
    path = tmp_path / "p.db"
    filled_log(path, n=2000)
    damage(path, where)
    before = path.read_bytes()
    with pytest.raises(PredictionLogError) as raised:
        PredictionLog(path).start()
    message = str(raised.value)
    assert f"the prediction log {path} is damaged" in message
    assert "PREDICTION_LOG" in message and "PREDICTION_LOG_ON_DAMAGE=move_aside" in message
    assert path.read_bytes() == before  # nothing written, nothing moved


def test_prediction_log_start_moves_a_damaged_file_aside_when_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    filled_log(path, n=2000)
    damage(path, "pages_2_to_5")
    before = path.read_bytes()
    with caplog.at_level(logging.WARNING), PredictionLog(path, on_damage="move_aside") as log:
        assert log.count() == 0  # a new, empty log
        assert record(log, "fresh") and log.flush() and log.count() == 1
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("p.db.corrupt-")]
    assert len(moved) == 1 and moved[0].read_bytes() == before
    assert any("moved it to" in r.getMessage() for r in caplog.records)


def test_log_file_refuses_an_unknown_damage_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_damage must be 'refuse' or 'move_aside'"):
        logfile.LogFile(tmp_path / "p.db", 1.0, on_damage="repair")


def test_quick_check_that_runs_out_of_time_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    filled_log(path, n=5000)
    with caplog.at_level(logging.WARNING, logger=logfile.__name__):
        assert quick_check(path, seconds=-1.0) is None  # interrupted at its first progress call
    assert "integrity check" in caplog.text and "skipped" in caplog.text


@pytest.mark.parametrize("how", ["moved", "deleted"])
def test_prediction_log_recreates_a_moved_or_deleted_file(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.db"
    rotated = tmp_path / "p.db.1"
    with caplog.at_level(logging.WARNING), PredictionLog(path, linger=0.02) as log:
        record(log, "before")
        assert log.flush()
        if how == "moved":
            os.rename(path, rotated)
        else:
            os.remove(path)
        record(log, "after")
        # The writers notice, close the old file, and create a new one at the path.
        wait_for(lambda: log.health.up and path.exists() and log.flush() and log.count() == 1)
        assert log.recent(5).labels == ["setosa"]
        assert record(log, "later") and log.flush() and log.count() == 2
    assert "was moved or deleted; writing to a new file" in caplog.text
    if how == "moved":  # the old file keeps what was written to it, and is sound
        assert quick_check(rotated) is None
        with PredictionLog(rotated) as old:
            assert old.count() == 1 and old.lookup("before") is not None


def test_replace_waits_for_another_process_replacing_the_log(tmp_path: Path) -> None:
    # Another worker holds the folder's lock while it recreates the log: this one's
    # replace neither unlinks that worker's new -wal nor creates a file meanwhile.
    import fcntl
    import threading

    from petalflow.monitoring.prediction_log.health import Health

    path = tmp_path / "p.db"
    file = logfile.LogFile(path, busy_timeout=1.0)
    other = os.open(tmp_path, os.O_RDONLY)  # another open file: flock blocks on it
    fcntl.flock(other, fcntl.LOCK_EX)
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"the other worker's")
    replacing = threading.Thread(target=file.replace, args=(Health(path),))
    replacing.start()
    replacing.join(0.3)
    assert replacing.is_alive()  # waiting for the lock
    assert not path.exists() and wal.read_bytes() == b"the other worker's"
    os.close(other)  # the other worker is done (its file at the path, here none)
    replacing.join(10)
    assert not replacing.is_alive()
    assert path.exists() and file.generation == 1 and not file.moved
