"""The tune command: its storage check (a lost table-creation race is retried, nothing
else is), and the search process it forks (reaped, stopped, failing its trials in flight
when stopped; a child run is never left half written)."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
from mlflow.tracking import MlflowClient

from petalflow.core.errors import ForkedWorkError
from petalflow.core.forked import Forked
from petalflow.training import tune_command
from petalflow.training.data import prepare
from petalflow.training.signals import DRAINING
from petalflow.training.trial_runs import PARENT_TAG, TrialRuns
from petalflow.training.tune_command import tune_main
from tests.conftest import wait_for
from tests.training.conftest import FlakyStorage, Unfittable, child_runs, tune_config, tune_in


def _race(message: str) -> Exception:
    return sqlalchemy.exc.ProgrammingError("CREATE TABLE studies", {}, Exception(message))


RACES = [
    _race('relation "studies" already exists'),  # PostgreSQL
    sqlalchemy.exc.OperationalError("CREATE", {}, Exception("table studies already exists")),
    sqlalchemy.exc.IntegrityError("INSERT version_info", {}, Exception("duplicate key")),
]


@pytest.mark.parametrize("error", RACES, ids=["postgresql", "sqlite", "version-row"])
def test_check_storage_retries_a_lost_schema_race(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FlakyStorage([error, error])
    monkeypatch.setattr(optuna.storages, "RDBStorage", fake)
    pauses: list[float] = []
    assert tune_command._check_storage("postgresql://u:secret@h/db", pauses.append) is None
    assert fake.calls == 3
    assert pauses == [0.5, 0.5]
    assert fake.disposed == 1  # no open connection crosses tune's fork


def test_check_storage_gives_up_on_a_race_after_five_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FlakyStorage([_race('relation "studies" already exists')] * 9)
    monkeypatch.setattr(optuna.storages, "RDBStorage", fake)
    pauses: list[float] = []
    problem = tune_command._check_storage("postgresql://u:secret@h/db", pauses.append)
    assert problem is not None
    assert problem.startswith("Optuna cannot open postgresql://u:***@h/db (ProgrammingError")
    assert "secret" not in problem
    assert fake.calls == 5
    assert len(pauses) == 4


def test_check_storage_reports_other_errors_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))
    fake = FlakyStorage([refused])
    monkeypatch.setattr(optuna.storages, "RDBStorage", fake)
    pauses: list[float] = []
    problem = tune_command._check_storage("postgresql://h/db", pauses.append)
    assert problem is not None and "connection refused" in problem and "fix the URL" in problem
    assert (fake.calls, pauses) == (1, [])


def _record_pids(path: Path, monkeypatch: pytest.MonkeyPatch, then: Any = None) -> None:
    """Each trial adds its process id to ``path`` (and then calls ``then``); the trials
    of these tests run one at a time."""
    from petalflow.training import search

    original = search._Search._scores

    def scores(self: Any, params: dict[str, Any]) -> Any:
        # Whole or not at all (a stop between an open and its write left it empty once).
        written = path.read_text() if path.exists() else ""
        part = path.with_suffix(".part")
        part.write_text(f"{written}{os.getpid()}\n")
        part.replace(path)
        if then is not None:
            then()
        return original(self, params)

    monkeypatch.setattr(search._Search, "_scores", scores)


def test_tune_runs_its_trials_in_a_child_process_it_reaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    _record_pids(pids, monkeypatch)
    client, info = tune_in(tmp_path, "--trials", "3", "--cv-folds", "2")
    assert len(child_runs(client, info["run_id"])) == 3
    assert gc.isenabled()  # its imports ran with the collector off, and only them
    found = {int(pid) for pid in pids.read_text().split()}
    assert len(found) == 1 and os.getpid() not in found
    with pytest.raises(ProcessLookupError):  # ended, and waited for: no zombie left
        os.kill(found.pop(), 0)


def test_tune_that_fails_before_logging_stops_its_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store fails while a trial runs: tune exits 1 and kills the search at once."""
    from petalflow.core.errors import TrackingError
    from petalflow.training import tracking

    pids = tmp_path / "pids"
    _record_pids(pids, monkeypatch, then=threading.Event().wait)  # a trial that never ends

    def unreachable(uri: str) -> None:
        wait_for(pids)  # the search has started its first trial
        raise TrackingError(f"cannot reach the MLflow tracking store at {uri}")

    monkeypatch.setattr(tracking, "connect", unreachable)
    monkeypatch.chdir(tmp_path)
    assert tune_main(["--artifacts-dir", "artifacts", "--trials", "3"]) == 1
    assert "cannot reach the MLflow tracking store" in capsys.readouterr().out
    with pytest.raises(ProcessLookupError):
        os.kill(int(pids.read_text()), 0)


def test_tune_whose_every_trial_fails_exits_1_and_marks_the_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from petalflow.training import search_space

    monkeypatch.setattr(search_space, "classifier", lambda *_: Unfittable())
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    assert tune_main(["--artifacts-dir", "artifacts", "--trials", "2", "--cv-folds", "2"]) == 1
    out = capsys.readouterr().out
    assert "trial 0 failed" in out and "trial 1 failed" in out
    assert "no trial of the study completed" in out
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    children = [r for r in runs if PARENT_TAG in r.data.tags]
    assert [r.info.status for r in parents] == ["FAILED"]
    # Named from its start: a run that fails before the search ends is found by its name.
    assert [r.info.run_name for r in parents] == ["tune-logreg-f1_macro-2trials-seed42"]
    assert sorted(r.info.status for r in children) == ["FAILED", "FAILED"]
    assert not (tmp_path / "artifacts").exists()


def _runs_of_a_terminated_tune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> list[Any]:
    """Tune 3 trials in ``tmp_path``, expecting SIGTERM to end it (exit 143); its runs."""
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exc_info:
            tune_main(["--artifacts-dir", "artifacts", "--trials", "3", "--cv-folds", "2", *args])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exc_info.value.code == 128 + signal.SIGTERM
    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.parametrize("moment", ["import", "write"])
def test_tune_sigterm_logs_every_trial_the_search_finished_first(
    moment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A shared study: SIGTERM arrives once the search has finished two trials, while
    tune imports MLflow (before its parent run exists) or in the middle of trial 0's
    tracking calls. The search is stopped, every trial it finished (COMPLETE in the
    study, for every process) gets its child run, none half written; then tune ends (exit
    143), its parent run FAILED, no trial RUNNING. Before, the trials not logged yet were
    COMPLETE with no child run (and a stop while importing left no parent run either)."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def stop_once_two_trials_completed() -> None:
        deadline = time.monotonic() + 60
        while len(_completed(storage)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    if moment == "import":
        imports = tune_command._import_tracking

        def interrupted_import() -> None:
            stop_once_two_trials_completed()
            imports()

        monkeypatch.setattr(tune_command, "_import_tracking", interrupted_import)
    else:
        write = TrialRuns.write

        def interrupted_write(self: TrialRuns, trial: Any) -> str:
            if trial.number == 0:
                stop_once_two_trials_completed()
            return write(self, trial)

        monkeypatch.setattr(TrialRuns, "write", interrupted_write)
    runs = _runs_of_a_terminated_tune(tmp_path, monkeypatch, "--storage", storage, "--study", "s")
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    children = [r for r in runs if PARENT_TAG in r.data.tags]
    assert [r.info.status for r in parents] == ["FAILED"]
    assert {r.info.status for r in children} == {"FINISHED"}
    assert all(r.data.metrics["cv_folds"] == 2 for r in children)
    completed = _completed(storage)
    assert len(completed) >= 2
    assert sorted(int(r.data.tags["trial"]) for r in children) == completed
    states = {t.state.name for t in optuna.load_study(study_name="s", storage=storage).trials}
    assert "RUNNING" not in states
    assert f"WARNING petalflow.training.signals: {DRAINING}" in capsys.readouterr().out


def _completed(storage: str) -> list[int]:
    """The numbers of the COMPLETE trials of study ``s`` (none while it does not exist)."""
    try:
        study = optuna.load_study(study_name="s", storage=storage)
    except KeyError:
        return []
    return sorted(t.number for t in study.trials if t.state.name == "COMPLETE")


def test_search_in_child_stopped_fails_its_trials_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared study: a stopped search leaves no trial RUNNING (each would count
    towards every other process's --trials)."""
    from petalflow.training import search

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    started = tmp_path / "started"

    def stuck(self: Any, params: dict[str, Any]) -> Any:
        started.write_text("")
        threading.Event().wait()

    monkeypatch.setattr(search._Search, "_scores", stuck)
    config = tune_config(trials=4, jobs=2, storage=storage, study="s")
    dataset = prepare("iris", 0.2, 3)
    with Forked(
        lambda send: tune_command.search_in_child(config, dataset, tmp_path, send)
    ) as child:
        wait_for(started)
        time.sleep(0.2)  # the second thread asks its trial too
        child.stop()
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert trials and {t.state for t in trials} == {optuna.trial.TrialState.FAIL}


def test_search_in_child_stopped_while_waiting_for_a_thread_fails_its_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main thread has finished its trial and waits for the other thread's: a stop
    then fails that one too."""
    from petalflow.training import search

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    started = tmp_path / "started"
    original = search._Search._scores

    def worker_stuck(self: Any, params: dict[str, Any]) -> Any:
        if threading.current_thread() is not threading.main_thread():
            started.write_text("")
            threading.Event().wait()
        return original(self, params)

    monkeypatch.setattr(search._Search, "_scores", worker_stuck)
    config = tune_config(trials=2, jobs=2, storage=storage, study="s")
    dataset = prepare("iris", 0.2, 3)
    states = optuna.trial.TrialState
    with Forked(
        lambda send: tune_command.search_in_child(config, dataset, tmp_path, send)
    ) as child:
        deadline = time.monotonic() + 60
        study = optuna.load_study(study_name="s", storage=storage) if started.exists() else None
        while study is None or [t.state for t in study.trials].count(states.COMPLETE) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
            if started.exists():
                study = optuna.load_study(study_name="s", storage=storage)
        child.stop()
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "FAIL"]


def test_tune_a_second_sigterm_during_a_write_acts_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that hangs must not make tune unstoppable: the second signal ends it
    before the child run is written."""
    write = TrialRuns.write

    def insisted(self: TrialRuns, trial: Any) -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        return write(self, trial)

    monkeypatch.setattr(TrialRuns, "write", insisted)
    runs = _runs_of_a_terminated_tune(tmp_path, monkeypatch)
    assert [(PARENT_TAG in r.data.tags, r.info.status) for r in runs] == [(False, "FAILED")]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


@pytest.mark.parametrize("jobs", [1, 2])
def test_search_in_child_stopped_inside_study_ask_fails_that_trial(
    tmp_path: Path, jobs: int
) -> None:
    """SIGTERM arrives while ``study.ask()`` creates a trial: the stop waits until the
    search has noted the trial as in flight, then fails it. In the main thread (--jobs 1)
    the trial was left RUNNING before; with --jobs 2 the other thread asks, for 0.5 s,
    and the main thread's stop waits for it too."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    ask = optuna.Study.ask

    def interrupted(self: optuna.Study, *args: Any, **kwargs: Any) -> Any:
        trial = ask(self, *args, **kwargs)  # in the storage now, RUNNING
        if jobs == 1 or threading.current_thread() is not threading.main_thread():
            main = threading.main_thread().ident
            signal.pthread_kill(main, signal.SIGTERM)  # type: ignore[arg-type]
            time.sleep(0.5 if jobs > 1 else 0)  # the main thread's handler runs meanwhile
        return trial

    config = tune_config(trials=6, jobs=jobs, storage=storage, study="s")
    dataset = prepare("iris", 0.2, 3)
    with pytest.MonkeyPatch.context() as patch:  # the child inherits the patch
        patch.setattr(optuna.Study, "ask", interrupted)
        child = Forked(lambda send: tune_command.search_in_child(config, dataset, tmp_path, send))
    with child, pytest.raises(ForkedWorkError, match=r"exit code 143 and no answer \(the work"):
        child.result()
    states = [t.state.name for t in optuna.load_study(study_name="s", storage=storage).trials]
    assert "RUNNING" not in states and "FAIL" in states
    assert jobs > 1 or states == ["FAIL"]


def test_search_in_child_stopped_inside_a_storage_call_lets_it_finish(tmp_path: Path) -> None:
    """SIGTERM arrives as a trial's parameters are suggested (a write to the storage):
    the call finishes before the stop acts. Stopped inside it, with --jobs 2, the
    interrupted connection kept the database locked for the other thread, which the stop
    then waited for: the child hung until killed, its trials left RUNNING."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    finished = tmp_path / "suggested"
    from petalflow.training import search_space

    suggest = search_space.suggest

    def interrupted(trial: Any, model: str) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler would run before this returns
        params = suggest(trial, model)
        finished.write_text("")
        return params

    config = tune_config(trials=6, storage=storage, study="s")
    dataset = prepare("iris", 0.2, 3)
    with pytest.MonkeyPatch.context() as patch:  # the child inherits the patch
        patch.setattr(search_space, "suggest", interrupted)
        child = Forked(lambda send: tune_command.search_in_child(config, dataset, tmp_path, send))
    with child, pytest.raises(ForkedWorkError, match=r"exit code 143 and no answer"):
        child.result()
    assert finished.exists()
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.state.name for t in trials] == ["FAIL"]


@pytest.mark.parametrize(
    ("storage", "tracking", "same"),
    [
        ("sqlite:///{tmp}/a.db", "sqlite:///{tmp}/./a.db", True),
        ("sqlite:///{tmp}/a.db", "sqlite:///{tmp}/b.db", False),
        ("postgresql://u@h/db", "postgresql+psycopg2://v@h/db", True),
        ("postgresql://u@h/db", "postgresql://u@h/other", False),
        (  # one database, two schemas: Optuna's and MLflow's apart
            "postgresql://u@h/db?options=-csearch_path%3Doptuna",
            "postgresql://u@h/db?options=-csearch_path%3Dmlflow",
            False,
        ),
        ("sqlite:///{tmp}/a.db", "http://127.0.0.1:5000", False),
        ("postgresql://u@h/db", "sqlite:///{tmp}/db", False),
    ],
)
def test_same_database_tells_one_database_however_spelled(
    storage: str, tracking: str, same: bool, tmp_path: Path
) -> None:
    from petalflow.training.tune_command import _same_database

    tmp = str(tmp_path)
    assert _same_database(storage.format(tmp=tmp), tracking.format(tmp=tmp)) is same
