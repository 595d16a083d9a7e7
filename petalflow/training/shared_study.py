"""A study shared by tune processes (``--storage``/``--study``): what its trials are scored
on, recorded by the process that creates it and checked by every process that joins, so
that the study's best never mixes two searches (an F1 read as a loss, another data set's
hyperparameters)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import optuna

from petalflow.core.errors import TuningError
from petalflow.training.data import Dataset

if TYPE_CHECKING:
    from petalflow.training.search import TuneConfig

logger = logging.getLogger(__name__)

# The study's user attribute holding ``settings``.
SETTINGS_ATTR = "petalflow_search"
# How long a joining process waits for the creator to record the settings.
_RECORD_WAIT = 2.0


def settings(config: TuneConfig, dataset: Dataset) -> dict[str, Any]:
    """What a trial's score depends on besides its hyperparameters."""
    return {
        "dataset": dataset.name,
        "dataset_sha256": dataset.sha256,
        "model": config.model,
        "metric": config.metric,
        "cv_folds": config.cv_folds,
        "test_size": config.test_size,
        "seed": config.seed,
    }


def conflict(
    name: str | None, recorded: dict[str, Any] | None, mine: dict[str, Any], trials: int
) -> str | None:
    """Why joining the study ``name`` (its ``recorded`` settings, ``trials`` trials) would
    mix searches, or None."""
    if recorded is None:
        if not trials:
            return None
        return (
            f"study {name!r} holds {trials} trials but no record of what they were scored on "
            "(made by an earlier petalflow); name a new --study"
        )
    differ = [
        f"{key} {str(recorded[key])[:16]!r}, not {str(mine[key])[:16]!r}"  # digests cut short
        for key in mine
        if key in recorded and recorded[key] != mine[key]
    ]
    if not differ:
        return None
    return (
        f"study {name!r} holds trials of another search ({'; '.join(differ)}); "
        "name a new --study, or tune with the flags it was made with"
    )


def open_shared(
    config: TuneConfig,
    mine: dict[str, Any],
    sampler: optuna.samplers.BaseSampler,
    direction: optuna.study.StudyDirection,
) -> optuna.Study:
    """The shared study: created (exactly one process succeeds, and records ``mine``) or
    joined (its record waited for, then compared); TuningError on a conflict."""
    try:
        study = optuna.create_study(
            storage=config.storage, study_name=config.study, sampler=sampler, direction=direction
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(
            study_name=config.study, storage=str(config.storage), sampler=sampler
        )
    else:
        study.set_user_attr(SETTINGS_ATTR, mine)
        return study
    deadline = time.monotonic() + _RECORD_WAIT
    while (recorded := study.user_attrs.get(SETTINGS_ATTR)) is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # the creator records right after creating
    if problem := conflict(config.study, recorded, mine, len(study.trials)):
        raise TuningError(problem)
    return study
