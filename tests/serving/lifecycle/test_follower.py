"""The follower: when it loads, what it hands over, and how it refuses a candidate."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from pathlib import Path

import pytest

from petalflow.core.errors import ModelLoadError
from petalflow.serving.lifecycle import follower as follower_module
from petalflow.serving.lifecycle.follower import ModelFollower, stop
from petalflow.serving.lifecycle.switching import QuickSwitching
from petalflow.serving.loading import LoadedModel, load_from_artifacts

HANG_GUARD_S = 30  # only against a hang


class Source:
    """A model source in memory: ``models`` by key; a key mapped to an exception fails."""

    name = "models:/iris@champion"

    def __init__(self, models: dict[str, LoadedModel | Exception], key: str, follows: bool = True):
        self.models, self.key, self.follows = models, key, follows
        self.loaded: list[str] = []
        self.intervals: list[float] = []  # the GIL switch interval each load ran under

    def latest(self) -> str:
        if self.key == "unreachable":
            raise ModelLoadError("the registry does not answer")
        return self.key

    def load(self, key: str) -> LoadedModel:
        self.loaded.append(key)
        self.intervals.append(sys.getswitchinterval())
        model = self.models[key]
        if isinstance(model, Exception):
            raise model
        return model

    def key_of(self, model: LoadedModel) -> str:
        return next(k for k, m in self.models.items() if m is model)


@pytest.fixture(scope="module")
def models(trained: Path, trained_rf: Path) -> dict[str, LoadedModel | Exception]:
    return {
        "1": load_from_artifacts(trained),
        "2": load_from_artifacts(trained_rf),
        "3": ModelLoadError("version 3 cannot be loaded"),
    }


class Recorder:
    def __init__(self) -> None:
        self.installed: list[LoadedModel] = []
        self.failures = 0
        self.intervals: list[float] = []

    def install(self, model: LoadedModel) -> None:
        self.installed.append(model)
        self.intervals.append(sys.getswitchinterval())

    def fail(self) -> None:
        self.failures += 1


def _follower(
    source: Source, models: dict[str, LoadedModel | Exception], interval: float = 30
) -> tuple[ModelFollower, Recorder]:
    recorder = Recorder()
    current = models["1"]
    assert isinstance(current, LoadedModel)
    follower = ModelFollower(source, current, recorder.install, interval, recorder.fail)
    return follower, recorder


def test_follower_does_nothing_while_the_source_names_the_served_model(models) -> None:
    source = Source(models, "1")
    follower, recorder = _follower(source, models)
    outcome = follower.check()
    assert (outcome.status, outcome.switched) == ("unchanged", False)
    assert source.loaded == [] and recorder.installed == []


def test_follower_installs_the_new_model_once(models) -> None:
    source = Source(models, "1")
    follower, recorder = _follower(source, models)
    source.key = "2"
    outcome = follower.check()
    assert (outcome.status, outcome.key) == ("switched", "2")
    assert recorder.installed == [models["2"]]
    assert follower.check().status == "unchanged"
    assert source.loaded == ["2"] and follower.current == "2"


def test_follower_refuses_a_failing_candidate_logs_and_counts_it(
    models, caplog: pytest.LogCaptureFixture
) -> None:
    source = Source(models, "1")
    follower, recorder = _follower(source, models)
    source.key = "3"
    with caplog.at_level(logging.INFO, logger="petalflow.serving.lifecycle.follower"):
        outcome = follower.check()
    assert outcome.status == "refused" and recorder.failures == 1
    assert recorder.installed == [] and follower.current == "1"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "model reload refused: models:/iris@champion (3): version 3 cannot be loaded; "
        "still serving models:/iris@champion (1)"
    ]


@pytest.mark.parametrize("key", ["2", "3"])  # installed; refused (its load raises)
def test_follower_loads_with_quick_gil_switching_then_restores_it(models, key: str) -> None:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        switching = QuickSwitching(0.0003)
        source, recorder = Source(models, "1"), Recorder()
        current = models["1"]
        assert isinstance(current, LoadedModel)
        follower = ModelFollower(source, current, recorder.install, 30, switching=switching)
        source.key = key
        follower.check()
        after = sys.getswitchinterval()
    finally:
        sys.setswitchinterval(saved)
    # CPython keeps the interval in whole microseconds: compare to 2 %
    assert source.intervals == pytest.approx([0.0003], rel=0.02)
    assert recorder.intervals == pytest.approx([0.0003] if key == "2" else [], rel=0.02)
    assert after == pytest.approx(0.004, rel=0.02)


def test_follower_without_quick_switching_leaves_the_interval_alone(models) -> None:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        source = Source(models, "1")
        follower, _ = _follower(source, models)  # no QuickSwitching given
        source.key = "2"
        assert follower.check().switched
    finally:
        sys.setswitchinterval(saved)
    assert source.intervals == pytest.approx([0.004], rel=0.02)


def test_follower_retries_a_refused_candidate_when_forced_or_after_a_while(
    models, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(follower_module.time, "monotonic", lambda: clock[0])
    source = Source(models, "3")
    follower, recorder = _follower(source, models)
    follower.check()
    clock[0] += follower_module.RETRY_REFUSED_SECONDS - 1
    assert follower.check().status == "refused"  # the timer's next checks: not loaded again
    assert source.loaded == ["3"] and recorder.failures == 1
    assert follower.check(force=True).status == "refused"  # an explicit reload: loaded
    assert source.loaded == ["3", "3"] and recorder.failures == 2
    clock[0] += follower_module.RETRY_REFUSED_SECONDS - 1  # counted from the last refusal
    assert follower.check().status == "refused" and source.loaded == ["3", "3"]
    clock[0] += 1
    assert follower.check().status == "refused"  # tried again by the timer
    assert source.loaded == ["3", "3", "3"] and recorder.failures == 3
    source.models = {**models, "3": models["2"]}  # the fault passed: taken once tried again
    clock[0] += follower_module.RETRY_REFUSED_SECONDS
    assert follower.check().status == "switched" and follower.refused is None
    assert follower.current == "3"


def test_follower_loads_a_new_candidate_at_once_after_a_refusal(models) -> None:
    source = Source(models, "3")
    follower, _ = _follower(source, models)
    assert follower.check().status == "refused"
    source.key = "2"  # the alias moves on: loaded at once
    assert follower.check().status == "switched" and follower.refused is None


def test_follower_refuses_what_install_refuses(models) -> None:
    source = Source(models, "2")

    def refuse(model: LoadedModel) -> None:
        raise ModelLoadError("warm-up failed")

    current = models["1"]
    assert isinstance(current, LoadedModel)
    failures: list[int] = []
    follower = ModelFollower(source, current, refuse, 30, lambda: failures.append(1))
    assert follower.check().status == "refused"
    assert failures == [1] and follower.current == "1"


def test_follower_counts_no_failure_when_the_source_cannot_answer(models) -> None:
    source = Source(models, "unreachable")
    follower, recorder = _follower(source, models)
    outcome = follower.check()
    assert outcome.status == "unavailable" and recorder.failures == 0
    assert "models:/iris@champion" in outcome.detail


def test_follower_warns_of_a_lasting_unavailable_source_once_per_reason_and_period(
    models, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An alias deleted by a rollback, or a registry down: not a warning every poll.
    from petalflow.serving.lifecycle import follower as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    source = Source(models, "unreachable")
    follower, _ = _follower(source, models)
    with caplog.at_level(logging.INFO, logger="petalflow.serving.lifecycle.follower"):
        for seconds in (0, 30, module.REPEAT_WARNING_SECONDS - 31):
            clock[0] += seconds
            assert follower.check().status == "unavailable"
        clock[0] += 1  # REPEAT_WARNING_SECONDS after the first warning
        follower.check()
        source.key = "1"  # it answers again
        assert follower.check().status == "unchanged"
        source.key = "unreachable"
        follower.check()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    down = "model reload: cannot check models:/iris@champion: the registry does not answer"
    back = "model reload: models:/iris@champion can be checked again"
    assert lines == [("WARNING", down), ("WARNING", down), ("INFO", back), ("WARNING", down)]


@pytest.mark.parametrize(("follows", "interval"), [(True, 0), (False, 1)])
def test_follower_polls_only_an_alias_with_an_interval(models, follows, interval) -> None:
    follower, _ = _follower(Source(models, "1", follows=follows), models, interval)
    assert follower.polls is False

    async def started() -> object:
        return follower.start()

    assert asyncio.run(started()) is None


def test_follower_polls_until_the_new_model_is_installed(models) -> None:
    source = Source(models, "1")
    recorder = Recorder()
    current = models["1"]
    assert isinstance(current, LoadedModel)

    async def run() -> None:
        installed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def install(model: LoadedModel) -> None:
            recorder.install(model)
            loop.call_soon_threadsafe(installed.set)

        follower = ModelFollower(source, current, install, 0.01)
        task = follower.start()
        assert task is not None
        source.key = "2"
        await asyncio.wait_for(installed.wait(), HANG_GUARD_S)
        await stop(task)
        assert task.cancelled()

    asyncio.run(run())
    assert recorder.installed == [models["2"]]


class Held(Source):
    """A source whose ``latest()`` waits until ``answer`` is set (``asked`` once called):
    a registry that is slow, or hangs."""

    def __init__(self, models: dict[str, LoadedModel | Exception], key: str) -> None:
        super().__init__(models, key)
        self.asked, self.answer = threading.Event(), threading.Event()

    def latest(self) -> str:
        self.asked.set()
        self.answer.wait(HANG_GUARD_S)
        return super().latest()


def _check_held(
    source: Held, models: dict[str, LoadedModel | Exception]
) -> tuple[ModelFollower, Recorder, threading.Thread]:
    """A follower of ``source`` with a check (a poll) running in a thread, held in
    ``latest()``."""
    follower, recorder = _follower(source, models)
    running = threading.Thread(target=follower.check)
    running.start()
    assert source.asked.wait(HANG_GUARD_S)
    source.asked.clear()
    return follower, recorder, running


def test_follower_answers_busy_when_another_check_runs_past_the_wait(
    models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A registry that hangs: a reload queued behind the running check would hold a worker
    # thread until it answers; past the wait it gets "busy", and asks the source nothing.
    monkeypatch.setattr(follower_module, "BUSY_WAIT_SECONDS", 0.05)
    source = Held(models, "2")
    follower, recorder, running = _check_held(source, models)
    busy = follower.check(force=True)
    assert (busy.status, busy.key, busy.switched) == ("busy", None, False)
    assert "a check of models:/iris@champion has been running for" in busy.detail
    assert not source.asked.is_set() and source.loaded == []
    source.answer.set()
    running.join(HANG_GUARD_S)
    assert source.loaded == ["2"] and recorder.installed == [models["2"]]
    assert follower.check().status == "unchanged"  # the lock was released


def test_follower_reload_waits_for_a_short_check_then_answers_itself(models) -> None:
    # A poll loading for a moment: the reload waits for it (within BUSY_WAIT_SECONDS),
    # then answers what it found, not "busy".
    source = Held(models, "2")
    follower, recorder, running = _check_held(source, models)
    threading.Timer(0.2, source.answer.set).start()
    outcome = follower.check(force=True)
    running.join(HANG_GUARD_S)
    assert (outcome.status, outcome.key) == ("unchanged", "2")
    assert recorder.installed == [models["2"]]


def test_reload_response_lists_every_outcome_the_follower_gives() -> None:
    from typing import get_args

    from petalflow.serving.lifecycle.follower import Status
    from petalflow.serving.schemas import ReloadResponse

    annotation = ReloadResponse.model_fields["outcome"].annotation
    assert set(get_args(annotation)) == set(get_args(Status))
