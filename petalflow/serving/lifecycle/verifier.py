"""The served model's fast path at start-up: verified in a child process once the server
is up, while scikit-learn answers.

Compiling and verifying a fast path is Python for the most part (~0.15 s for a 200-tree
forest, and the forest's library import for any model); done before the first request it
counted toward the cold start. Here a thread imports the fast-path code (the GIL handed
over quickly meanwhile, as for a reload), forks a child that compiles and verifies the
fast path on the other core (``petalflow.core.forked``), takes back the verified fast path,
pickled, and warms it; the event loop then lets the predictor adopt it, unless a reload
has replaced that predictor meanwhile. A fast path that fails verification, or a child
that ends without an answer, leaves scikit-learn answering (one WARNING line).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

from petalflow.core.forked import Forked
from petalflow.serving.lifecycle.isolation import ANSWER_SECONDS
from petalflow.serving.lifecycle.served import warm_rows
from petalflow.serving.lifecycle.switching import QuickSwitching
from petalflow.serving.predictor import Predictor

if TYPE_CHECKING:
    from petalflow.serving.fastpath import FastPath

logger = logging.getLogger(__name__)


class StartupVerifier:
    """``verify()`` once, from the event loop; ``stop()`` at shutdown ends the child."""

    def __init__(
        self,
        predictor: Predictor,
        switching: QuickSwitching,
        is_current: Callable[[Predictor], bool],
    ) -> None:
        self.predictor, self.switching, self.is_current = predictor, switching, is_current
        self._child: Forked[FastPath | None] | None = None
        self._stopping = False

    async def verify(self) -> bool:
        """Verify the fast path off the loop, then adopt it: True if it was adopted."""
        version = self.predictor.model.model_version
        try:
            fast = await asyncio.to_thread(self._verified)
        except Exception as exc:  # the pipeline still answers: never fail the server here
            logger.debug("start-up fast path of model %s", version, exc_info=True)
            if not self._stopping:
                msg = "the fast path of model %s was not verified (%s: %s); scikit-learn answers"
                logger.warning(msg, version, type(exc).__name__, exc)
            return False
        if fast is None or self._stopping or not self.is_current(self.predictor):
            return False
        self.predictor.adopt(fast)
        return True

    def stop(self) -> None:
        """End a child still verifying (at shutdown): ``verify`` then returns False."""
        self._stopping = True  # before reading _child: _verified checks it after setting it
        child = self._child
        if child is not None and child.pid is not None:
            with suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)

    def _verified(self) -> FastPath | None:
        """In a worker thread: the verified fast path from a child, warmed; None if none."""
        with self.switching.during():
            # Imported here, before the fork: the child inherits it, and the pickled
            # answer is unpacked without an import.
            import petalflow.serving.fastpath  # noqa: F401

            with Forked(lambda _send: self.predictor.verified_fast_path()) as child:
                self._child = child
                if self._stopping:
                    return None
                for _ in child.messages(ANSWER_SECONDS):
                    pass
                fast = child.result()
            rows = warm_rows(self.predictor.model)
            if fast is not None and len(rows):  # numpy's first-call costs, off the requests
                fast.predict_proba(rows[:1])
                fast.predict_proba(rows)
            return fast
