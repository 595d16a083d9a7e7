"""Forked: what a forked child sends arrives in order, while it runs, and then its result.

The one-shot use (a reload's decoding) is tested through ``in_child`` in
tests/serving/lifecycle/test_isolation.py; these tests are about the stream.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from petalflow.core.errors import ForkedWorkError
from petalflow.core.forked import Forked
from tests.conftest import logged_to_file, wait_for


def test_forked_messages_arrive_in_order_then_the_result() -> None:
    def work(send: Callable[[Any], None]) -> int:
        for number in range(5):
            send((number, os.getpid()))
        return 42

    with Forked(work) as child:
        messages = list(child.messages())
        assert child.result() == 42
    assert [number for number, _ in messages] == [0, 1, 2, 3, 4]
    assert {pid for _, pid in messages} != {os.getpid()}
    assert len({pid for _, pid in messages}) == 1


def test_forked_a_message_arrives_while_the_child_still_runs(tmp_path: Path) -> None:
    """The child waits for a file that the parent writes only after the first message:
    had the parent waited for the child's end, the read would time out."""
    go = tmp_path / "go"

    def work(send: Callable[[Any], None]) -> str:
        send("first")
        wait_for(go)
        send("second")
        return "done"

    with Forked(work) as child:
        stream = child.messages(timeout=60)  # a parent that waited for the end fails here
        assert next(stream) == "first"
        go.write_text("")
        assert list(stream) == ["second"]
        assert child.result() == "done"


def test_forked_sends_from_threads_arrive_whole() -> None:
    """Frames larger than the pipe (1 MiB), sent from four threads at once: each takes
    several writes, and without the lock another thread's would land in between."""
    size = 1_500_000

    def work(send: Callable[[Any], None]) -> None:
        def many(tag: int) -> None:
            for i in range(6):
                send((tag, i, bytes([tag]) * size))

        threads = [threading.Thread(target=many, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    with Forked(work) as child:
        messages = list(child.messages())
        child.result()
    assert len(messages) == 24
    assert all(payload == bytes([tag]) * size for tag, _, payload in messages)
    for tag in range(4):
        assert [i for t, i, _ in messages if t == tag] == list(range(6))


def test_forked_logs_the_childs_records_as_they_arrive(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    seen: list[str] = []

    def work(send: Callable[[Any], None]) -> None:
        logging.getLogger("petalflow.test_forked.child").warning("trial %d failed", 3)
        send("after the warning")

    with logged_to_file(path, "petalflow.test_forked"), Forked(work) as child:
        for _ in child.messages():
            seen.append(path.read_text())
        child.result()
    # Logged once, here, before the message that the child sent after it.
    assert seen == ["petalflow.test_forked.child WARNING trial 3 failed\n"]


def test_forked_stop_kills_a_running_child_and_reaps_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"

    def work(send: Callable[[Any], None]) -> None:
        pid_file.write_text(str(os.getpid()))
        send("started")
        threading.Event().wait()  # forever

    with Forked(work) as child:
        assert next(child.messages()) == "started"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed, and waited for: no zombie left
        os.kill(pid, 0)
    with pytest.raises(ForkedWorkError, match=r"ended with exit code -15 and no answer"):
        child.result()


def test_forked_reraises_the_works_exception_after_its_messages() -> None:
    def work(send: Callable[[Any], None]) -> None:
        send(1)
        raise KeyError("study")

    with Forked(work) as child:
        assert list(child.messages()) == [1]
        with pytest.raises(KeyError, match="study"):
            child.result()


def test_forked_a_new_stream_goes_on_where_an_abandoned_one_stopped(tmp_path: Path) -> None:
    """The first read takes every frame at once (the child has sent them all): the
    frames that the abandoned stream read but did not yield are not lost."""
    sent = tmp_path / "sent"

    def work(send: Callable[[Any], None]) -> int:
        for number in range(50):
            send(number)
        sent.write_text("")
        return 7

    with Forked(work) as child:
        wait_for(sent)
        assert next(child.messages()) == 0
        assert list(child.messages()) == list(range(1, 50))
        assert child.result() == 7
        assert child.result() == 7  # asked twice: the same answer


def test_forked_logs_every_record_of_a_loop(tmp_path: Path) -> None:
    """Records made one after another (each freed before the next) are all sent."""
    path = tmp_path / "run.log"

    def work(_send: Callable[[Any], None]) -> None:
        for number in range(20):
            logging.getLogger("petalflow.test_forked.loop").warning("trial %d failed", number)

    with logged_to_file(path, "petalflow.test_forked"), Forked(work) as child:
        child.result()
    expected = [f"petalflow.test_forked.loop WARNING trial {n} failed" for n in range(20)]
    assert path.read_text().splitlines() == expected


def test_forked_keeps_an_ignored_sigint_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Forked(lambda _send: signal.getsignal(signal.SIGINT) is signal.SIG_IGN) as child:
            assert child.result() is True
    finally:
        signal.signal(signal.SIGINT, previous)
    with Forked(lambda _send: signal.getsignal(signal.SIGINT) is signal.SIG_DFL) as child:
        assert child.result() is True


def test_forked_exception_carries_the_childs_traceback() -> None:
    def decode_trees() -> None:
        raise ValueError("node 3 is damaged")

    with Forked(lambda _send: decode_trees()) as child, pytest.raises(ValueError) as info:
        child.result()
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "In the forked child" in notes and "decode_trees" in notes


@pytest.mark.parametrize(("code", "status"), [(None, 0), (7, 7), ("bye", 1), (300, 1)])
def test_forked_work_that_exits_reports_python_s_exit_status(code: object, status: int) -> None:
    def work(_send: Callable[[Any], None]) -> None:
        raise SystemExit(code)

    pattern = rf"ended with exit code {status} and no answer \(the work exited\)"
    with Forked(work) as child, pytest.raises(ForkedWorkError, match=pattern):
        child.result()


def test_forked_stop_lets_a_sigterm_handler_clean_up(tmp_path: Path) -> None:
    cleaned = tmp_path / "cleaned"

    def work(send: Callable[[Any], None]) -> None:
        def clean(_signum: int, _frame: object) -> None:
            cleaned.write_text("")
            raise SystemExit(143)

        signal.signal(signal.SIGTERM, clean)
        send("ready")
        threading.Event().wait()

    with Forked(work) as child:
        assert next(child.messages()) == "ready"
        child.stop()
    assert cleaned.exists()


def test_forked_stop_kills_a_child_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    def work(send: Callable[[Any], None]) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        send("ready")
        threading.Event().wait()

    with Forked(work) as child:
        assert next(child.messages()) == "ready"
        child.stop(grace=0.2)
    with pytest.raises(ForkedWorkError, match=r"exit code -9 and no answer"):
        child.result()


def test_forked_interrupt_still_delivers_what_the_child_sends_on_its_way_out() -> None:
    def work(send: Callable[[Any], None]) -> None:
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stopped.set())
        send("ready")
        stopped.wait()
        send("finished before the stop")
        raise SystemExit(143)

    with Forked(work) as child:
        stream = child.messages()
        assert next(stream) == "ready"
        child.interrupter()()
        assert list(stream) == ["finished before the stop"]
        with pytest.raises(ForkedWorkError, match=r"exit code 143 and no answer"):
            child.result()


def test_forked_interrupt_kills_a_child_that_ignores_sigterm_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def work(send: Callable[[Any], None]) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        send("ready")
        threading.Event().wait()

    with Forked(work) as child:
        pid = child.pid
        stream = child.messages()
        assert next(stream) == "ready"
        child.interrupter(grace=0.2)()
        assert list(stream) == []  # the stream ends: the child was killed
    with pytest.raises(ForkedWorkError, match=r"exit code -9 and no answer"):
        child.result()
    assert f"the child {pid} did not end within 0.2 s of SIGTERM; killing it" in caplog.text


def test_forked_interrupters_thread_ends_with_the_child_when_never_called() -> None:
    def work(send: Callable[[Any], None]) -> str:
        return "done"

    before = threading.active_count()
    with Forked(work) as child:
        child.interrupter()  # its thread waits for a call, or the child's end
        assert threading.active_count() == before + 1
        assert child.result() == "done"
    deadline = time.monotonic() + 10
    while threading.active_count() > before:
        assert time.monotonic() < deadline
        time.sleep(0.01)
