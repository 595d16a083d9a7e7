"""bench/log_prunes.py prunes the log back to its size each time, both ways of counting."""

from __future__ import annotations

import pytest

from bench import log_prunes


def test_log_prunes_measure_times_each_part_of_every_prune() -> None:
    times = log_prunes.measure(max_rows=60, prune_every=25, reps=3)
    assert list(times) == list(log_prunes.PARTS)
    assert [len(times[part]) for part in log_prunes.PARTS] == [3, 3, 6, 6]
    assert all(ms >= 0 for done in times.values() for ms in done)


def test_log_prunes_table_gives_the_median_per_prune_and_per_row() -> None:
    times = {"survey, every row": [1.0, 3.0, 2.5], "prune": [10.0, 12.0]}
    lines = log_prunes.table(times, prune_every=1000).splitlines()
    assert lines[2:] == [
        "| survey, every row | 2.5 ms | 2.50 us |",
        "| prune | 11.0 ms | 11.00 us |",
    ]


@pytest.mark.parametrize("flag", ["--max-rows", "--prune-every", "--reps"])
def test_log_prunes_main_refuses_a_count_below_one(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        log_prunes.main([flag, "0"])
    assert exit_info.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err
