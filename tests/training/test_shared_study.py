"""A shared study records what its trials are scored on; joining it with other settings fails."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest

from petalflow.core.errors import TuningError
from petalflow.training import shared_study

MINE = {"dataset": "iris", "dataset_sha256": "ab" * 32, "model": "logreg", "metric": "f1_macro",
        "cv_folds": 5, "test_size": 0.2, "seed": 42}  # fmt: skip


@pytest.mark.parametrize(
    ("recorded", "trials", "problem"),
    [
        (None, 0, None),  # a new study, its creator about to record
        (MINE, 7, None),
        ({**MINE, "metric": "log_loss"}, 3, "metric 'log_loss', not 'f1_macro'"),
        ({**MINE, "dataset_sha256": "cd" * 32}, 3, "dataset_sha256 'cdcdcdcdcdcdcdcd', not"),
        (None, 4, "holds 4 trials but no record of what they were scored on"),
    ],
)
def test_conflict_names_what_differs(
    recorded: dict[str, Any] | None, trials: int, problem: str | None
) -> None:
    found = shared_study.conflict("s", recorded, MINE, trials)
    assert found is None if problem is None else (found is not None and problem in found)


def _open(storage: str, mine: dict[str, Any]) -> optuna.Study:
    config: Any = SimpleNamespace(storage=storage, study="s")
    sampler = optuna.samplers.TPESampler(seed=0)
    return shared_study.open_shared(config, mine, sampler, optuna.study.StudyDirection.MAXIMIZE)


def test_the_creator_records_and_a_joiner_with_other_settings_fails(tmp_path: Path) -> None:
    # Two processes that both passed the start-up check (they started together).
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = _open(storage, MINE)
    assert first.user_attrs[shared_study.SETTINGS_ATTR] == MINE
    assert _open(storage, MINE).study_name == "s"  # the same search joins
    with pytest.raises(
        TuningError, match="holds trials of another search \\(model 'logreg', not 'rf'\\)"
    ):
        _open(storage, {**MINE, "model": "rf"})
