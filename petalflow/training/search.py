"""The study of a tune: ask, cross-validate, tell, report each finished trial.

It imports no MLflow (nor the evaluation's plotting): tune runs it in a forked child
(``tune_command``) as soon as the data is split, and the child's trials go on,
on the machine's other core, while the parent loads MLflow, opens the store and logs
each trial it is sent as a child run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import sklearn
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from petalflow.training import cross_validation as cv
from petalflow.training import search_space, shared_study
from petalflow.training.data import Dataset
from petalflow.training.pipeline import assemble, preprocessing

if TYPE_CHECKING:
    from petalflow.training.assessment import Assessment

logger = logging.getLogger(__name__)

# How long a stopping search waits for another thread to report the trial it is telling.
REPORT_WAIT_SECONDS = 2.0


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


@dataclass(frozen=True)
class Trial:
    """A finished trial (``scores`` None: it failed), as its child run logs it."""

    number: int
    params: dict[str, Any]
    scores: np.ndarray | None
    started: float
    ended: float


@dataclass(frozen=True)
class Best:
    """The best trial of the whole study (other processes' trials included)."""

    number: int
    params: dict[str, Any]
    value: float
    std: float


@dataclass(frozen=True)
class Searched:
    """What the search process hands back: the best trial, and its pipeline refit on every
    non-test row and assessed on the test split."""

    best: Best
    assessment: Assessment


def best_pipeline(config: TuneConfig, dataset: Dataset, best: Best) -> Pipeline:
    """The best trial's pipeline, unfitted."""
    classifier = search_space.classifier(config.model, best.params, config.seed)
    return assemble(classifier, dataset.features)


def redacted(url: str | None) -> str | None:
    """``url`` without its password (``postgresql://user:***@host/db``)."""
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def open_study(config: TuneConfig, dataset: Dataset) -> optuna.Study:
    """The study: in memory, or shared through ``config.storage`` under ``config.study``
    (``shared_study``: what its trials are scored on is recorded and checked).

    The sampler is TPE seeded with ``--seed``; a shared study's processes add their
    process id to it, so that they do not all draw the same first trials.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = config.seed if config.storage is None else (config.seed + os.getpid()) % 2**32
    sampler = optuna.samplers.TPESampler(seed=seed)
    maximize = cv.METRICS[config.metric].maximize
    direction = (
        optuna.study.StudyDirection.MAXIMIZE if maximize else optuna.study.StudyDirection.MINIMIZE
    )
    if config.storage is None:
        return optuna.create_study(sampler=sampler, direction=direction)
    mine = shared_study.settings(config, dataset)
    return shared_study.open_shared(config, mine, sampler, direction)


def search(
    config: TuneConfig,
    dataset: Dataset,
    report: Callable[[Trial], None],
    asking: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> Best | None:
    """Run this process's trials, ``report`` each as it ends; the study's best (None: no
    trial of the study completed). Every storage call (a trial asked and noted as in
    flight, its parameters suggested, its result told and reported) runs inside
    ``asking()``: tune's child holds its stop signals there."""
    # One BLAS thread per fit: a trial's fits are small, and a BLAS pool of several
    # threads per fit spends more time waking its threads than computing (10x slower on
    # a busy machine). Parallelism is across trials (--jobs).
    with threadpool_limits(limits=1):
        study = _Search(config, dataset, report, asking).run()
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        return None
    best = study.best_trial
    value = float(best.value)  # type: ignore[arg-type]
    return Best(best.number, best.params, value, float(best.user_attrs.get("cv_std", 0.0)))


class _Search:
    """The trials of one process: ask, cross-validate, tell, report; ``jobs`` threads."""

    def __init__(
        self,
        config: TuneConfig,
        dataset: Dataset,
        report: Callable[[Trial], None],
        asking: Callable[[], contextlib.AbstractContextManager[object]],
    ) -> None:
        self.config = config
        self.asking = asking
        self.dataset = dataset
        self.report = report
        self.metric = cv.METRICS[config.metric]
        split = dataset.split
        folds = cv.folds(split.y_train, config.cv_folds, config.seed, config.test_size)
        self.folds = cv.prepare_folds(
            lambda: Pipeline([preprocessing(dataset.features)]), split.X_train, split.y_train, folds
        )
        self.study = open_study(config, dataset)
        self.lock = threading.Lock()
        self.stopped = False
        self.running: dict[int, optuna.Trial] = {}  # asked, not yet told
        self.reporting = 0  # threads telling and reporting a trial (see _abandon)

    def run(self) -> optuna.Study:
        """Run the trials (this thread and ``jobs - 1`` others); the study."""
        if self.config.storage is not None:
            with self.asking():
                held = len(self.study.get_trials(deepcopy=False))
            if held >= self.config.trials:
                logger.warning(
                    "study %r already holds %d trials (--trials %d): this tune adds none, "
                    "and refits and publishes the study's best; raise --trials to search more",
                    self.config.study,
                    held,
                    self.config.trials,
                )
        workers = [threading.Thread(target=self._work) for _ in range(self.config.jobs - 1)]
        for worker in workers:
            worker.start()
        try:
            self._work()
            for worker in workers:  # a stop may come while waiting for their trials too
                worker.join()
        except BaseException:  # SIGTERM or Ctrl-C (SystemExit), or a failing storage
            self._abandon()
            raise
        return self.study

    def _abandon(self) -> None:
        """Stop asking, let a trial another thread is telling finish being reported (the
        parent logs it: told COMPLETE, it must be), then fail the trials in flight: in a
        shared study a trial left RUNNING would count towards every process's --trials."""
        with self.lock:
            self.stopped = True
        deadline = time.monotonic() + REPORT_WAIT_SECONDS
        while self.reporting and time.monotonic() < deadline:
            time.sleep(0.005)
        with self.lock:
            running = list(self.running.values())
        for trial in running:
            try:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError):  # told meanwhile
                pass
            except Exception as exc:  # the storage failing: say which trial stays RUNNING
                logger.warning("trial %d stays RUNNING in the study: %s", trial.number, exc)

    def _next(self) -> optuna.Trial | None:
        """A new trial, or None once the study holds ``--trials`` (other processes' too)."""
        # Every storage call runs inside ``asking()``: stopped inside one, its connection
        # would keep the database locked for the other threads (and their stop would wait
        # for it). A stop between ask() and noting the trial would lose the trial.
        with self.lock, self.asking():
            if self.stopped or len(self.study.get_trials(deepcopy=False)) >= self.config.trials:
                return None
            trial = self.study.ask()
            self.running[trial.number] = trial
        if trial.number >= self.config.trials:  # another process asked first: not run
            with self.asking():
                self._tell(trial, None)
            return None
        return trial

    def _work(self) -> None:
        # Without scikit-learn's checks of each fit's parameters (the search space only
        # draws valid ones): ~5 % of a trial. (Its finiteness check stays: numbers that
        # scaling turns into inf or NaN must fail the trial.) Per thread: set in each.
        with sklearn.config_context(skip_parameter_validation=True):
            self._trials()

    def _trials(self) -> None:
        while (trial := self._next()) is not None:
            try:
                self._run(trial)
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
                if self.stopped:  # a stop has failed the trial meanwhile: end quietly
                    return
                raise

    def _run(self, trial: optuna.Trial) -> None:
        """Suggest, cross-validate, tell and report one trial."""
        started = time.time()
        with self.asking():  # suggesting writes to the storage
            params = search_space.suggest(trial, self.config.model)
        try:
            scores: np.ndarray | None = self._scores(params)
        except Exception as exc:  # a trial that cannot fit fails alone
            logger.warning("trial %d failed: %s", trial.number, exc)
            scores = None
        with self.asking():  # stopped between the two, a trial told would not be logged
            with self.lock:
                if self.stopped:  # another thread is stopping: it fails this trial
                    return
                self.reporting += 1
            try:
                if scores is None:
                    self._tell(trial, None)
                else:
                    trial.set_user_attr("cv_std", float(scores.std()))
                    self._tell(trial, float(scores.mean()))
                self.report(Trial(trial.number, params, scores, started, time.time()))
            finally:
                with self.lock:
                    self.reporting -= 1

    def _tell(self, trial: optuna.Trial, value: float | None) -> None:
        if value is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)
        with self.lock:
            self.running.pop(trial.number, None)

    def _scores(self, params: dict[str, Any]) -> np.ndarray:
        classifier = search_space.classifier(self.config.model, params, self.config.seed)
        return cv.score_folds(classifier, self.folds, self.metric, self.dataset.positive_class)
