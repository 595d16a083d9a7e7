"""bench/log_writes.py writes every request in the slices and pages it is given."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from bench import log_writes
from bench.log_writes import Config, Load
from petalflow.monitoring.prediction_log import schema
from petalflow.monitoring.prediction_log import writer as writer_module


@pytest.mark.parametrize("page_size", [4096, 65536])
def test_log_writes_run_once_writes_every_request_in_slices_of_the_given_rows(
    tmp_path: Path, page_size: int
) -> None:
    before = schema.PAGE_SIZE, writer_module._LOOP_CHUNK
    run = log_writes.run_once(Config(page_size, 7), Load(50, 1, 20, 14), tmp_path)
    assert run.requests == 50 and run.page_size == page_size
    assert run.slices == 8  # 50 single rows, at most 7 per slice: 7 x 7 + 1
    assert before == (schema.PAGE_SIZE, writer_module._LOOP_CHUNK)
    assert run.cpu_us > run.loop_us > 0 and 0 < run.slice_p50_ms <= run.slice_p99_ms


def test_log_writes_run_once_writes_a_batch_per_slice(tmp_path: Path) -> None:
    run = log_writes.run_once(Config(4096, 30), Load(3, 1000, 2, 1), tmp_path)
    assert run.requests == 3 and run.slices == 3  # a larger request is a slice of its own
    path = tmp_path / "log-4096-30.db"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT SUM(n_rows) FROM predictions").fetchone() == (3000,)


def test_log_writes_table_gives_the_median_of_each_configuration() -> None:
    runs = {
        Config(4096, 30): [
            log_writes.Run(9.0, 0.2, 0.5, 1, 1, 4096, 3.0),
            log_writes.Run(11.0, 0.4, 0.9, 1, 1, 4096, 5.0),
            log_writes.Run(10.0, 0.3, 0.7, 1, 1, 4096, 4.0),
        ]
    }
    assert (
        log_writes.table(runs).splitlines()[2]
        == "| 4096 | 30 | 10.0 us | 4.0 us | 0.300 ms | 0.700 ms |"
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [("4096", "is not PAGE:ROWS"), ("5000:30", "power of two"), ("4096:0", "ROWS at least 1")],
)
def test_log_writes_parse_config_refuses_what_sqlite_or_the_writer_cannot_take(
    text: str, match: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=match):
        log_writes.parse_config(text)


def test_log_writes_parse_config_reads_page_and_rows() -> None:
    assert log_writes.parse_config("512:45") == Config(512, 45)


def test_log_writes_configured_restores_the_constants_after_an_error() -> None:
    before = schema.PAGE_SIZE, writer_module._LOOP_CHUNK
    with pytest.raises(RuntimeError, match="inside"), log_writes.configured(Config(512, 3)):
        assert (schema.PAGE_SIZE, writer_module._LOOP_CHUNK) == (512, 3)
        raise RuntimeError("inside")
    assert before == (schema.PAGE_SIZE, writer_module._LOOP_CHUNK)


def test_log_writes_main_refuses_zero_requests(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        log_writes.main(["--requests", "0"])
    assert exited.value.code == 2
    assert "--requests" in capsys.readouterr().err
