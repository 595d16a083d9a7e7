"""signals_held: SIGTERM and Ctrl-C wait for the end of a block that must not be cut
short (a new MLflow store's creation, a tune trial's child run); a second acts at once."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.ddl.impl import DefaultImpl
from mlflow.tracking import MlflowClient

import train
from petalflow.training import tracking
from petalflow.training.signals import SearchStop, signals_held


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@pytest.fixture
def stops() -> Iterator[None]:
    """SIGTERM raises SystemExit(143), as train.py and tune install it."""
    previous = signal.signal(signal.SIGTERM, _stop)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_signals_held_acts_on_a_sigterm_at_the_block_end(stops: None) -> None:
    finished = False
    with pytest.raises(SystemExit) as exc_info, signals_held():
        os.kill(os.getpid(), signal.SIGTERM)  # Python runs its handler before this returns
        finished = True
    assert finished and exc_info.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is _stop  # put back


@pytest.mark.parametrize("notice", [None, "stopping once the run is logged"])
def test_signals_held_logs_its_notice_once_when_it_holds_a_stop(
    notice: str | None, stops: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"), pytest.raises(SystemExit), signals_held(notice):
        os.kill(os.getpid(), signal.SIGTERM)
        assert [r.getMessage() for r in caplog.records] == ([notice] if notice else [])


def test_signals_held_lets_a_second_signal_act_at_once(stops: None) -> None:
    finished = False
    with pytest.raises(SystemExit), signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        finished = True
    assert not finished
    assert signal.getsignal(signal.SIGTERM) is _stop


def test_signals_held_calls_on_hold_once_and_tells_the_block_what_it_holds(stops: None) -> None:
    calls: list[int] = []
    with pytest.raises(SystemExit), signals_held(on_hold=lambda: calls.append(1)) as held:
        assert held == []
        os.kill(os.getpid(), signal.SIGTERM)
        assert held == [signal.SIGTERM] and calls == [1]
    assert calls == [1]


def test_signals_held_inside_another_acts_when_the_outer_block_ends(stops: None) -> None:
    """tune holds stops from the fork to its last child run; a new store's creation holds
    them too, inside: a stop there waits for the outer block, with its on_hold called."""
    calls: list[str] = []
    with pytest.raises(SystemExit) as exc_info:
        with signals_held(on_hold=lambda: calls.append("outer")) as outer:
            with signals_held(on_hold=lambda: calls.append("inner")):
                os.kill(os.getpid(), signal.SIGTERM)
            calls.append("inner ended")
            assert outer == [signal.SIGTERM]
        calls.append("outer ended")
    assert exc_info.value.code == 143
    assert calls == ["inner", "outer", "inner ended"]
    assert signal.getsignal(signal.SIGTERM) is _stop


def test_signals_held_inside_another_lets_a_second_signal_act_at_once(stops: None) -> None:
    reached: list[str] = []
    with pytest.raises(SystemExit), signals_held(), signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        reached.append("inner")
    assert reached == []
    assert signal.getsignal(signal.SIGTERM) is _stop


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_search_stop_acts_on_the_first_signal_only(first: int) -> None:
    """Ctrl-C reaches the child, then the parent's stop sends SIGTERM: the second must not
    cut short the failing of the trials in flight, nor (were it ignored by SIG_IGN while
    already pending) make Python print an error."""
    stop = SearchStop()
    with pytest.raises(SystemExit) as exc_info:
        stop.handle(first, None)
    assert exc_info.value.code == 128 + first
    assert stop.handle(signal.SIGTERM, None) is None
    assert stop.handle(signal.SIGINT, None) is None


def test_search_stop_held_keeps_the_first_signal_for_the_blocks_end() -> None:
    stop = SearchStop()
    previous = signal.signal(signal.SIGINT, stop.handle)
    try:
        with pytest.raises(SystemExit) as exc_info, stop.held():
            stop.handle(signal.SIGINT, None)  # as if delivered now: held
            stop.handle(signal.SIGTERM, None)
            finished = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished and exc_info.value.code == 128 + signal.SIGINT


def test_train_sigterm_while_a_new_store_is_created_lets_the_creation_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stops: None
) -> None:
    """Stopped midway through MLflow's migrations, the store could not be opened again
    ("table ... already exists"): the stop now waits for them, then train exits 143."""
    create_table = DefaultImpl.create_table
    tables: list[str] = []

    def interrupted(self: DefaultImpl, table: Any, **kwargs: Any) -> Any:
        tables.append(table.name)
        if len(tables) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return create_table(self, table, **kwargs)

    monkeypatch.setattr(DefaultImpl, "create_table", interrupted)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr("sys.argv", ["train.py", "--artifacts-dir", str(tmp_path / "a")])
    with pytest.raises(SystemExit) as exc_info:  # tests/conftest.py unfreezes afterwards
        train.cli()
    assert exc_info.value.code == 143 and len(tables) > 3
    assert [e.name for e in MlflowClient(uri).search_experiments()] == ["Default"]
    assert not (tmp_path / "a").exists()


def test_train_sigterm_while_its_run_is_created_ends_the_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stops: None
) -> None:
    """A stop inside MLflow's start_run, once the run exists in the store: the run was
    left RUNNING. The stop now waits for start_run, then ends the run FAILED."""
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    create_run = TrackingServiceClient.create_run

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = create_run(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return run

    monkeypatch.setattr(TrackingServiceClient, "create_run", interrupted)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr("sys.argv", ["train.py", "--artifacts-dir", str(tmp_path / "a")])
    with pytest.raises(SystemExit) as exc_info:
        train.cli()
    assert exc_info.value.code == 143
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("uri", "held"),
    [
        ("sqlite:////tmp/x/mlflow.db", True),
        ("postgresql+psycopg2://u@db/mlflow", True),
        ("http://127.0.0.1:5000", False),  # a server's store: no wait for its timeouts
    ],
)
def test_connect_holds_stops_only_for_a_database_store(
    uri: str, held: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    holds: list[str] = []

    @contextlib.contextmanager
    def spy() -> Iterator[None]:
        holds.append(uri)
        yield

    class Answering:
        def __init__(self, _uri: str) -> None:
            pass

        def search_experiments(self, max_results: int) -> list[Any]:
            return []

    monkeypatch.setattr(tracking, "signals_held", spy)
    monkeypatch.setattr(tracking, "MlflowClient", Answering)
    monkeypatch.setattr(tracking, "local_artifact_root", lambda _uri: None)
    tracking.connect(uri)
    assert holds == ([uri] if held else [])


def test_search_stop_held_by_two_threads_waits_for_both_blocks() -> None:
    """--jobs 2: one thread asks a trial while another tells and reports one; the stop
    acts once neither block runs (not when the first ends)."""
    stop = SearchStop()
    previous = signal.signal(signal.SIGINT, stop.handle)
    ended: list[str] = []
    try:
        with pytest.raises(SystemExit) as exc_info:
            with stop.held():  # the main thread's block
                inner = stop.held()  # the other thread's, entered meanwhile
                inner.__enter__()
                stop.handle(signal.SIGINT, None)  # as if delivered now: held
                ended.append("main")
            inner.__exit__(None, None, None)  # the stop acts when this one ends
            ended.append("other")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ended == ["main"] and exc_info.value.code == 128 + signal.SIGINT
