"""in_child: a reload's decoding runs in a forked child and only its answer comes back."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from petalflow.core.errors import ModelLoadError
from petalflow.serving.lifecycle.isolation import in_child
from tests.conftest import logged_to_file


class _UnpicklableError(Exception):
    def __init__(self, a: str, b: str) -> None:  # pickle rebuilds it with one argument
        super().__init__(f"{a} {b}")


def test_in_child_runs_the_work_in_another_process_and_returns_its_result() -> None:
    def work() -> tuple[int, np.ndarray]:
        return os.getpid(), np.arange(6, dtype=np.float64).reshape(2, 3) / 7

    pid, array = in_child(work)
    assert pid != os.getpid()
    np.testing.assert_array_equal(array, np.arange(6, dtype=np.float64).reshape(2, 3) / 7)


def test_in_child_returns_answers_larger_than_a_pipe_buffer() -> None:
    big = in_child(lambda: b"x" * 5_000_000)
    assert big == b"x" * 5_000_000


def test_in_child_reraises_the_works_exception_with_its_type_and_message() -> None:
    def work() -> None:
        raise ValueError("the model file is damaged")

    with pytest.raises(ValueError, match="the model file is damaged"):
        in_child(work)


def test_in_child_turns_an_unpicklable_exception_into_a_load_error() -> None:
    def work() -> None:
        raise _UnpicklableError("odd", "error")

    with pytest.raises(ModelLoadError, match="_UnpicklableError: odd error"):
        in_child(work)


@pytest.mark.parametrize(
    ("end", "code"),
    [(lambda: os._exit(3), "3"), (lambda: os.kill(os.getpid(), signal.SIGKILL), "-9")],
)
def test_in_child_reports_a_child_that_ends_without_an_answer(end: object, code: str) -> None:
    with pytest.raises(ModelLoadError, match=rf"ended with exit code {code} and no answer"):
        in_child(end)  # type: ignore[arg-type]


def test_in_child_logs_the_childs_records_here_once(tmp_path: Path) -> None:
    """The child never writes to the server's handlers (the access log's waiting lines
    would go out twice): its records are handled here, once each."""
    path = tmp_path / "server.log"

    def work() -> int:
        logging.getLogger("petalflow.test_isolation.child").warning("loaded %d trees", 200)
        return os.getpid()

    with logged_to_file(path, "petalflow.test_isolation"):
        child = in_child(work)
    assert child != os.getpid()
    assert path.read_text().splitlines() == [
        "petalflow.test_isolation.child WARNING loaded 200 trees"
    ]


def test_in_child_stops_a_child_that_gives_no_answer_in_time(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"

    def work() -> None:
        pid_file.write_text(str(os.getpid()))
        signal.pause()  # waits for a signal that never comes

    with pytest.raises(ModelLoadError, match=r"gave no answer in 0\.5 s and was stopped"):
        in_child(work, timeout=0.5)
    child = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed, and waited for: no zombie left
        os.kill(child, 0)


def test_in_child_names_an_answer_that_cannot_be_sent_back() -> None:
    with pytest.raises(ModelLoadError, match=r"the answer cannot be pickled \(.*lambda"):
        in_child(lambda: lambda: None)
