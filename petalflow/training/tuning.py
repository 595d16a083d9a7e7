"""Tune: an Optuna study over a model's space, one nested MLflow run per trial, and the
best trial's model refit and published as train.py publishes its own.

tune_command forks the study (``search``) into a child process as soon as the data is
split; the parent then loads MLflow and opens the store while the trials run on the
other core. The parent run is a training run (``run.train_with``): inside it each trial
the child sends becomes a child run (``trial_runs``), and the plan hands back the recipe
of the best trial, which ``run`` fits on every non-test row, evaluates once on the test
split and publishes with the same artifacts, plots and model as train.py.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from petalflow.core.errors import ForkedWorkError, TuningError
from petalflow.core.forked import Forked
from petalflow.training import data, run, search_space
from petalflow.training.config import PROJECT_ROOT
from petalflow.training.pipeline import assemble
from petalflow.training.search import Best, TuneConfig
from petalflow.training.trial_runs import TrialRuns

logger = logging.getLogger(__name__)

Searching = Forked[Best | None]


def tune(
    config: TuneConfig, dataset: data.Dataset, searching: Searching, root: Path = PROJECT_ROOT
) -> run.TrainingResult:
    """Log every trial of ``searching`` under one parent run, refit the best, publish it."""
    return run.train_with(
        config.experiment_name,
        config.artifacts_dir,
        dataset,
        lambda client, parent: _plan(config, dataset, searching, client, parent),
        root,
    )


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM and Ctrl-C wait until the block ends: a child run is never left half
    written (RUNNING, its store session holding the database's lock). A second signal
    acts at once (a store that hangs can still be left)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set handlers (and it is the one signals reach)
        return
    held: list[int] = []
    previous: dict[int, Any] = {}

    def hold(got: int, _frame: object) -> None:
        if held:  # the second: the first is dropped, this one acts now
            held.clear()
            _restore(previous)
            signal.raise_signal(got)
            return
        held.append(got)

    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        _restore(previous)
        if held:  # the first one: its handler raises here, between two child runs
            signal.raise_signal(held[0])


def _restore(previous: dict[int, Any]) -> None:
    """Put each handler back, even if a signal's handler raises in between."""
    raised: BaseException | None = None
    while previous:
        signum, handler = previous.popitem()
        try:
            signal.signal(signum, handler)
        except BaseException as exc:  # a waiting handler ran (and raised) before the swap
            raised = raised or exc
            previous[signum] = handler
    if raised is not None:
        raise raised


def _plan(
    config: TuneConfig,
    dataset: data.Dataset,
    searching: Searching,
    client: MlflowClient,
    parent: Run,
) -> run.Recipe:
    trial_runs = TrialRuns(client, parent, config.metric)
    try:
        for trial in searching.messages():
            with _signals_held():
                trial_runs.write(trial)
        best = searching.result()
    except ForkedWorkError as exc:
        raise TuningError(f"the search process {exc}; tune again") from None
    if best is None:
        raise TuningError(
            "no trial of the study completed; "
            "see the warnings above for why, fix the data or the model and tune again"
        )
    logger.info("best trial %d: %s=%.4f %s", best.number, config.metric, best.value, best.params)
    classifier = search_space.classifier(config.model, best.params, config.seed)
    split = "one validation split" if config.cv_folds == 1 else f"{config.cv_folds}-fold CV"
    return run.Recipe(
        pipeline=assemble(classifier, dataset.features),
        params={
            **config.params(),
            **search_space.describe(config.model),
            **{f"best_{k}": v for k, v in best.params.items()},
            "best_trial": best.number,
        },
        name=f"tune-{config.model}-{config.metric}-{config.trials}trials-seed{config.seed}",
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
            f"best_cv_{config.metric}_std": best.std,
        },
    )
