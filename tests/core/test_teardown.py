"""exit_without_teardown, in real processes: what an exit must keep, and what it skips."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

# A process that buffers output, registers an atexit handler, holds an object whose
# finalizer only the interpreter's teardown calls, optionally starts a thread, then exits.
# An object whose finalizer only the interpreter's teardown calls.
FREED = """
class Freed:
    def __del__(self):
        sys.stderr.write("torn down\\n")

kept = Freed()
"""
SCRIPT = """
import atexit, sys, threading, time
from petalflow.core.teardown import exit_without_teardown
{freed}
atexit.register(lambda: sys.stdout.write("atexit ran\\n"))
sys.stdout.write("buffered")  # no newline, no flush: a pipe holds it in the buffer
if {thread!r}:
    def late():
        time.sleep(0.3)
        open({marker!r}, "w").write("done")
    threading.Thread(target=late, daemon={daemon!r}).start()
exit_without_teardown(7)
"""


def _run(tmp_path: Path, thread: bool, daemon: bool = False) -> subprocess.CompletedProcess[str]:
    marker = str(tmp_path / "thread-finished")
    code = textwrap.dedent(SCRIPT).format(thread=thread, daemon=daemon, marker=marker, freed=FREED)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("daemon_thread", [False, True])
def test_exit_without_teardown_keeps_status_output_and_atexit_but_skips_teardown(
    tmp_path: Path, daemon_thread: bool
) -> None:
    done = _run(tmp_path, thread=daemon_thread, daemon=True)
    assert done.returncode == 7
    assert done.stdout == "bufferedatexit ran\n"
    assert "torn down" not in done.stderr  # the finalizer never ran: no teardown
    assert "Traceback" not in done.stderr


def test_exit_without_teardown_waits_for_a_running_thread_as_sys_exit_does(
    tmp_path: Path,
) -> None:
    done = _run(tmp_path, thread=True, daemon=False)
    assert done.returncode == 7
    assert (tmp_path / "thread-finished").read_text() == "done"
    assert done.stdout == "bufferedatexit ran\n"
    assert "torn down" in done.stderr  # the usual exit, teardown included


@pytest.mark.parametrize(
    ("body", "status", "stderr"),
    [
        ("raise KeyboardInterrupt", 130, "tool: interrupted\n"),
        (  # a stop held through a failure is raised over it: both are said
            "try:\n                raise TrackingError('the store failed')\n"
            "            finally:\n                raise KeyboardInterrupt",
            130,
            "tool: the store failed\ntool: interrupted\n",
        ),
        ("return 3", 3, ""),
    ],
)
def test_run_entry_point_turns_ctrl_c_into_one_line_and_status_130(
    body: str, status: int, stderr: str
) -> None:
    assert _entry_point(body) == (status, stderr)


@pytest.mark.parametrize(
    ("body", "status", "stderr"),
    [
        ("raise SystemExit(2)", 2, "torn down? no\n"),
        ("raise SystemExit(None)", 0, "torn down? no\n"),
        ('raise SystemExit("bad flag")', 1, "bad flag\ntorn down? no\n"),
        ("raise SystemExit(2**70)", 1, "torn down? no\n"),
        (  # a SIGTERM held through a failure is raised over it: the failure is said
            "try:\n                raise PetalflowError('the store failed')\n"
            "            finally:\n                raise SystemExit(143)",
            143,
            "tool: the store failed\ntorn down? no\n",
        ),
        (  # argparse's error while handling a failure: it has said it, once
            "try:\n                raise PetalflowError('5 folds need 5 rows')\n"
            "            except PetalflowError as exc:\n"
            "                sys.stderr.write(f'usage error: {exc}\\n')\n"
            "                raise SystemExit(2)",
            2,
            "usage error: 5 folds need 5 rows\ntorn down? no\n",
        ),
    ],
)
def test_run_entry_point_exits_a_system_exit_without_the_teardown(
    body: str, status: int, stderr: str
) -> None:
    """argparse's exit 2 takes the same way out as a finished command: through the
    atexit handlers, not the teardown (which could abort while a native thread runs)."""
    prelude = FREED + 'atexit.register(lambda: sys.stderr.write("torn down? no\\n"))\n'
    assert _entry_point(body, prelude) == (status, stderr)


def _entry_point(body: str, prelude: str = "") -> tuple[int, str]:
    """(exit status, stderr) of a process whose entry point runs ``body``."""
    code = textwrap.dedent(
        """
        import atexit, sys
        from petalflow.core.errors import PetalflowError, TrackingError
        from petalflow.core.teardown import run_entry_point
        """
    )
    code += textwrap.dedent(prelude)
    code += textwrap.dedent(
        f"""
        def entry():
            {body}

        run_entry_point("tool", entry)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stderr
