"""bench/tuning.py runs both sides on the same search and counts what each logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import tuning

pytestmark = pytest.mark.e2e


def test_tuning_bench_runs_both_sides_in_both_orders_and_counts_every_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []

    def timed(command: list[str], uri: str, cwd: Path) -> float:
        order.append("recipe" if "--recipe" in command else "petalflow")
        return real(command, uri, cwd)

    real = tuning._timed
    monkeypatch.setattr(tuning, "_timed", timed)
    ours, theirs, n_ours, n_theirs = tuning.compare("iris", trials=3, cv_folds=2, rounds=2)
    assert order == ["petalflow", "recipe", "recipe", "petalflow"]
    assert (n_ours, n_theirs) == (3, 3)
    assert len(ours) == len(theirs) == 2
    assert min(ours) > 0 and min(theirs) > 0


@pytest.mark.parametrize("rounds", ["0", "-2"])
def test_tuning_bench_refuses_fewer_than_one_round(
    rounds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        tuning.main(["--rounds", rounds])
    assert exited.value.code == 2
    assert "give at least 1" in capsys.readouterr().err
