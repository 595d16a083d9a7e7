"""Tune: an Optuna study over a model's space, one nested MLflow run per trial, and the
best trial's model refit and published as train.py publishes its own.

The parent run is a training run (``run.train_with``): the study runs inside it, each
finished trial becomes a child run (``trial_runs``), and the plan hands back the recipe of
the best trial, which ``run`` fits on every non-test row, evaluates once on the test split
and publishes with the same artifacts, plots and model as train.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from petalflow.core.errors import TuningError
from petalflow.training import cross_validation as cv
from petalflow.training import data, run, search_space
from petalflow.training.config import PROJECT_ROOT
from petalflow.training.pipeline import assemble, preprocessing
from petalflow.training.trial_runs import TrialRuns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneConfig:
    """Every resolved tune option; ``params()`` is what params.json holds."""

    dataset: str
    model: str
    trials: int
    seed: int
    jobs: int
    metric: str
    cv_folds: int
    test_size: float
    storage: str | None
    study: str | None
    register_model: str | None
    alias: str | None
    artifacts_dir: str
    experiment_name: str

    def params(self) -> dict[str, Any]:
        """The config as a JSON-ready dict, the storage's password left out."""
        return {**asdict(self), "storage": redacted(self.storage)}


def redacted(url: str | None) -> str | None:
    """``url`` without its password (``postgresql://user:***@host/db``)."""
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def open_study(config: TuneConfig) -> optuna.Study:
    """The study: in memory, or shared through ``config.storage`` under ``config.study``.

    The sampler is TPE seeded with ``--seed``; a shared study's processes add their
    process id to it, so that they do not all draw the same first trials.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = config.seed if config.storage is None else (config.seed + os.getpid()) % 2**32
    return optuna.create_study(
        storage=config.storage,
        study_name=config.study,
        sampler=optuna.samplers.TPESampler(seed=seed),
        direction="maximize" if cv.METRICS[config.metric].maximize else "minimize",
        load_if_exists=config.storage is not None,
    )


def tune(
    config: TuneConfig, dataset: data.Dataset, root: Path = PROJECT_ROOT
) -> run.TrainingResult:
    """Search, log every trial under one parent run, refit the best and publish it."""
    return run.train_with(
        config.experiment_name,
        config.artifacts_dir,
        dataset,
        lambda client, parent: _plan(config, dataset, client, parent),
        root,
    )


class _Search:
    """The trials of one process: ask, cross-validate, tell, log; ``jobs`` threads."""

    def __init__(self, config: TuneConfig, dataset: data.Dataset, trial_runs: TrialRuns) -> None:
        self.config = config
        self.dataset = dataset
        self.trial_runs = trial_runs
        self.metric = cv.METRICS[config.metric]
        split = dataset.split
        folds = cv.folds(split.y_train, config.cv_folds, config.seed, config.test_size)
        self.folds = cv.prepare_folds(
            lambda: Pipeline([preprocessing(dataset.features)]), split.X_train, split.y_train, folds
        )
        self.study = open_study(config)
        self.lock = threading.Lock()
        self.stopped = False

    def run(self) -> optuna.Study:
        """Run the trials (this thread and ``jobs - 1`` others); the study."""
        workers = [threading.Thread(target=self._work) for _ in range(self.config.jobs - 1)]
        for worker in workers:
            worker.start()
        try:
            self._work()
        finally:  # a SIGTERM (SystemExit here) stops the other threads after their trial
            self.stopped = True
            for worker in workers:
                worker.join()
        return self.study

    def _next(self) -> optuna.Trial | None:
        """A new trial, or None once the study holds ``--trials`` (other processes' too)."""
        with self.lock:
            if self.stopped or len(self.study.get_trials(deepcopy=False)) >= self.config.trials:
                return None
            trial = self.study.ask()
        if trial.number >= self.config.trials:  # another process asked first: not run
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return None
        return trial

    def _work(self) -> None:
        while (trial := self._next()) is not None:
            started = time.time()
            params = search_space.suggest(trial, self.config.model)
            try:
                scores = self._scores(params)
            except Exception as exc:  # a trial that cannot fit fails alone
                logger.warning("trial %d failed: %s", trial.number, exc)
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                self.trial_runs.log(trial.number, params, None, started)
                continue
            trial.set_user_attr("cv_std", float(scores.std()))
            self.study.tell(trial, float(scores.mean()))
            self.trial_runs.log(trial.number, params, scores, started)

    def _scores(self, params: dict[str, Any]) -> np.ndarray:
        classifier = search_space.classifier(self.config.model, params, self.config.seed)
        return cv.score_folds(classifier, self.folds, self.metric, self.dataset.positive_class)


def _plan(
    config: TuneConfig, dataset: data.Dataset, client: MlflowClient, parent: Run
) -> run.Recipe:
    # One BLAS thread per fit: a trial's fits are small, and a BLAS pool of several
    # threads per fit spends more time waking its threads than computing (10x slower on
    # a busy machine). Parallelism is across trials (--jobs).
    with TrialRuns(client, parent, config.metric) as trial_runs, threadpool_limits(limits=1):
        study = _Search(config, dataset, trial_runs).run()
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise TuningError(
            f"no trial of the study completed ({len(study.trials)} failed); "
            "see the warnings above for why, fix the data or the model and tune again"
        )
    best = study.best_trial
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
            f"best_cv_{config.metric}": float(best.value),  # type: ignore[arg-type]
            f"best_cv_{config.metric}_std": float(best.user_attrs.get("cv_std", 0.0)),
        },
    )
