"""A reload's heavy Python work in a forked child process, away from the requests' GIL.

Unpacking a model file is pure Python for the most part (skops rebuilds and audits a
200-tree forest node by node, ~0.3 s), and so is verifying its fast path (~0.2 s); the
thread that does it takes the GIL from the event loop for as long. ``in_child`` runs such
work in a child forked for it (``petalflow.core.forked``) and hands back the pickled
result, which the server unpickles in a few milliseconds of C. The pickle crosses only a
pipe from the server's own child, which decoded the file with the usual checks (skops'
trusted types, or the sha256 of ``model.joblib``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from petalflow.core.errors import ForkedWorkError, ModelLoadError
from petalflow.core.forked import Forked

T = TypeVar("T")
# A child stuck for this long (a lock that another thread held when it was forked, say)
# is killed, so that the reload ends and the next one can run.
ANSWER_SECONDS = 600.0


def in_child(work: Callable[[], T], timeout: float = ANSWER_SECONDS) -> T:
    """``work()`` run in a forked child process: its result, or the exception it raised.

    ModelLoadError if the child ends without an answer (killed, out of memory), or gives
    none within ``timeout`` seconds (it is killed then: a reload never hangs for good).
    """
    try:
        with Forked(lambda _send: work()) as child:
            for _ in child.messages(timeout):
                pass
            return child.result()
    except ForkedWorkError as exc:
        raise ModelLoadError(
            f"the process decoding the model {exc}; the current model keeps serving; "
            "retry the reload"
        ) from None
