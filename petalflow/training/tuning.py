"""Tune: an Optuna study over a model's space, one nested MLflow run per trial, and the
best trial's model refit and published as train.py publishes its own.

tune_command forks the study (``search``) into a child process as soon as the data is
split; the parent then loads MLflow and opens the store while the trials run on the
other core. The parent run is a training run (``run.train_with``): inside it each trial
the child sends becomes a child run (``trial_runs``). The child then refits the best
trial on every non-test row and assesses it once on the test split (``assessment``: its
scores, plots and reports), while the parent logs the last trials; the plan hands that
recipe back, and ``run`` publishes it with the same artifacts, plots and model as train.py.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from petalflow.core.errors import ForkedWorkError, TuningError
from petalflow.core.forked import Forked
from petalflow.training import data, run, search_space
from petalflow.training.config import PROJECT_ROOT
from petalflow.training.search import Searched, TuneConfig, best_pipeline
from petalflow.training.trial_runs import TrialRuns

logger = logging.getLogger(__name__)

Searching = Forked[Searched | None]
Hold = tuple[contextlib.ExitStack, list[int]]  # see logged_search


def tune(
    config: TuneConfig,
    dataset: data.Dataset,
    searching: Searching,
    hold: Hold,
    root: Path = PROJECT_ROOT,
) -> run.TrainingResult:
    """Log every trial of ``searching`` under one parent run (``logged_search``, which
    ends ``hold``), refit the best, publish it."""
    return run.train_with(
        config.experiment_name,
        config.artifacts_dir,
        dataset,
        lambda client, parent: _plan(config, dataset, searching, hold, client, parent),
        root,
        run_name=run_name(config),
    )


def run_name(config: TuneConfig) -> str:
    """The parent run's name, e.g. ``tune-logreg-f1_macro-50trials-seed42``."""
    return f"tune-{config.model}-{config.metric}-{config.trials}trials-seed{config.seed}"


def logged_search(searching: Searching, trial_runs: TrialRuns, hold: Hold) -> Searched | None:
    """Log each trial ``searching`` sends as a child run; its result. ``hold`` is the
    stop hold tune began when it forked the search, and the list of the stop it holds: a
    stop (SIGTERM, Ctrl-C) stops the search, and acts here, once every trial the search
    sent is logged (a trial it finished, COMPLETE in a shared study for every process,
    always gets its child run; none is left half written)."""
    holding, held = hold
    with holding:  # the hold ends with the block
        for trial in searching.messages():
            trial_runs.write(trial)
        if held:  # the stop acts as the block ends
            return None
        return searching.result()


def _plan(
    config: TuneConfig,
    dataset: data.Dataset,
    searching: Searching,
    hold: Hold,
    client: MlflowClient,
    parent: Run,
) -> run.Recipe:
    try:
        searched = logged_search(searching, TrialRuns(client, parent, config.metric), hold)
    except ForkedWorkError as exc:
        raise TuningError(f"the search process {exc}; tune again") from None
    if searched is None:
        raise TuningError(
            "no trial of the study completed; "
            "see the warnings above for why, fix the data or the model and tune again"
        )
    best = searched.best
    logger.info("best trial %d: %s=%.4f %s", best.number, config.metric, best.value, best.params)
    split = "one validation split" if config.cv_folds == 1 else f"{config.cv_folds}-fold CV"
    return run.Recipe(
        pipeline=best_pipeline(config, dataset, best),
        params={
            **config.params(),
            **search_space.describe(config.model),
            **{f"best_{k}": v for k, v in best.params.items()},
            "best_trial": best.number,
        },
        name=run_name(config),
        summary=f"model={config.model} best hyperparameters={best.params}",
        split=(
            f"stratified, test size {config.test_size}, seed {config.seed}; trials scored by "
            f"{split} on the training rows, the best refit on all of them"
        ),
        seed=config.seed,
        artifacts_dir=config.artifacts_dir,
        register_model=config.register_model,
        alias=config.alias,
        extra_metrics={
            f"best_cv_{config.metric}": best.value,
            # one validation split (--cv-folds 1) has no spread to report
            **({f"best_cv_{config.metric}_std": best.std} if config.cv_folds > 1 else {}),
        },
        assessment=searched.assessment,
    )
