"""The study of a tune, without MLflow: what it reports, and the best trial it hands back."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.training import search_space
from petalflow.training.data import prepare
from petalflow.training.search import Trial, _Search, redacted, search
from tests.training.conftest import Unfittable, tune_config, write_contract


def test_search_reports_every_trial_with_its_fold_scores_and_returns_the_best() -> None:
    dataset = prepare("iris", 0.2, 3)
    reported: list[Trial] = []
    best = search(tune_config(), dataset, reported.append)
    assert [t.number for t in reported] == [0, 1, 2, 3]
    # Oracle: scikit-learn's own scaler + classifier + f1 on the same stratified folds.
    X, y = dataset.split.X_train, dataset.split.y_train
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=3)
    for trial in reported:
        assert trial.scores is not None and trial.started <= trial.ended
        expected = []
        for fit, validation in splitter.split(np.zeros(len(y)), y):
            weight = trial.params["class_weight"]
            classifier = LogisticRegression(
                C=trial.params["C"],
                class_weight=None if weight == "none" else weight,
                max_iter=1000,
                random_state=3,
            )
            model = make_pipeline(StandardScaler(), classifier)
            model.fit(X.iloc[fit], y.iloc[fit])
            predicted = model.predict(X.iloc[validation])
            expected.append(f1_score(y.iloc[validation], predicted, average="macro"))
        np.testing.assert_allclose(trial.scores, expected, rtol=1e-12)
    means = [float(t.scores.mean()) for t in reported if t.scores is not None]
    assert best is not None
    assert best.value == max(means)
    assert reported[best.number].params == best.params


def test_search_with_every_trial_failing_reports_them_and_returns_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(model: str, params: dict[str, Any], seed: int) -> LogisticRegression:
        return Unfittable()

    monkeypatch.setattr(search_space, "classifier", broken)
    reported: list[Trial] = []
    assert search(tune_config(trials=2), prepare("iris", 0.2, 3), reported.append) is None
    assert [(t.number, t.scores) for t in reported] == [(0, None), (1, None)]


def test_search_thread_whose_trial_a_stop_failed_ends_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stop fails the trials in flight (``_abandon``) while a thread still scores one:
    the thread ends without an error (it printed a traceback on every Ctrl-C with
    --jobs 2), and reports nothing more."""
    scoring, resume = threading.Event(), threading.Event()
    original = _Search._scores

    def held(self: _Search, params: dict[str, Any]) -> np.ndarray:
        scoring.set()
        resume.wait(60)
        return original(self, params)

    monkeypatch.setattr(_Search, "_scores", held)
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: errors.append(hook.exc_value))
    reported: list[Trial] = []
    searching = _Search(tune_config(), prepare("iris", 0.2, 3), reported.append, nullcontext)
    worker = threading.Thread(target=searching._work)
    worker.start()
    assert scoring.wait(60)
    searching._abandon()
    resume.set()
    worker.join(60)
    assert not worker.is_alive() and errors == [] and reported == []
    assert [t.state.name for t in searching.study.trials] == ["FAIL"]


def test_search_thread_raises_an_optuna_error_that_no_stop_caused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def finished(self: _Search, trial: Any) -> None:
        raise optuna.exceptions.UpdateFinishedTrialError("Trial#0 has already finished")

    monkeypatch.setattr(_Search, "_run", finished)
    searching = _Search(tune_config(), prepare("iris", 0.2, 3), lambda _: None, nullcontext)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        searching._work()


def test_redacted_hides_the_storage_password() -> None:
    assert redacted("postgresql://u:secret@db:5432/s") == "postgresql://u:***@db:5432/s"
    assert redacted("sqlite:///study.db") == "sqlite:///study.db"
    assert redacted(None) is None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy, on the overflow
def test_search_fails_the_trials_whose_scaled_folds_are_not_finite(tmp_path: Path) -> None:
    # Numbers near the float64 limit pass the contract, but scaling turns them into inf
    # and NaN: scikit-learn's finiteness check (kept while the search skips its parameter
    # checks) fails each trial, rather than scoring a model fitted on NaN.
    folder = tmp_path / "table"
    contract = write_contract(folder)
    frame = pd.read_csv(folder / "data.csv")
    frame["größe"] = np.where(np.arange(len(frame)) % 2 == 0, 1.7e308, -1.7e308)
    frame.to_csv(folder / "data.csv", index=False)
    reported: list[Trial] = []
    config = tune_config(dataset=str(contract), trials=2)
    assert search(config, prepare(str(contract), 0.2, 3), reported.append) is None
    assert [(t.number, t.scores) for t in reported] == [(0, None), (1, None)]


def _stopping_search() -> tuple[_Search, list[Trial]]:
    reported: list[Trial] = []
    return _Search(
        tune_config(trials=4), prepare("iris", 0.2, 3), reported.append, nullcontext
    ), reported


def test_search_abandon_lets_a_trial_being_reported_finish_then_fails_the_rest() -> None:
    """--jobs 2: a stop while the other thread tells its trial COMPLETE (and reports it,
    for the parent to log) waits for that; only the trials still in flight fail. Before,
    the stopping thread failed both, or the process ended between the tell and the report."""
    searching, _ = _stopping_search()
    told, other = searching.study.ask(), searching.study.ask()
    searching.running = {told.number: told, other.number: other}
    searching.reporting = 1

    def tell_and_report() -> None:  # the other thread, inside its reporting block
        threading.Event().wait(0.2)
        searching._tell(told, 0.9)
        searching.reporting = 0

    thread = threading.Thread(target=tell_and_report)
    thread.start()
    searching._abandon()
    thread.join()
    states = {t.number: t.state.name for t in searching.study.trials}
    assert states == {told.number: "COMPLETE", other.number: "FAIL"}


def test_search_a_trial_finishing_after_a_stop_is_left_for_the_stop_to_fail() -> None:
    searching, reported = _stopping_search()
    trial = searching.study.ask()
    searching.running[trial.number] = trial
    searching.stopped = True
    searching._run(trial)
    assert reported == [] and trial.number in searching.running
    assert searching.study.trials[0].state.name == "RUNNING"  # _abandon's to fail
