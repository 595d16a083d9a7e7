"""Following a model source: notice a new model, load it off the request path, install it.

One class for every followed URI: the served model (MODEL_URI) and, the same way, a
shadow model. The follower only decides *when* to load and what to do when that fails;
``install`` (given by the owner) verifies, warms and swaps the loaded model in, and
raises to refuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from petalflow.core.errors import PetalflowError
from petalflow.serving.lifecycle.sources import ModelSource
from petalflow.serving.lifecycle.switching import QuickSwitching
from petalflow.serving.loading import LoadedModel

logger = logging.getLogger(__name__)

Status = Literal["switched", "unchanged", "refused", "unavailable", "busy"]

# A source that stays unavailable (a tracking server down, an alias deleted by a rollback)
# is warned about when the reason changes, and again at most this often: not every poll.
REPEAT_WARNING_SECONDS = 600.0
# How long POST /admin/reload waits for a check already running before it answers "busy".
BUSY_WAIT_SECONDS = 5.0
# The timer tries a refused candidate again this long after the refusal, while the source
# still names it: a passing fault (a file not yet uploaded) heals, and the workers of one
# server, each refusing or taking it on its own, end up on one version.
RETRY_REFUSED_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one check did: switched to ``key``, found it unchanged, refused the
    candidate ``key`` (the current model keeps serving), could not ask the source, or
    did nothing because another check was running (busy)."""

    status: Status
    key: str | None
    detail: str

    @property
    def switched(self) -> bool:
        return self.status == "switched"


def _describe(source: ModelSource, key: str) -> str:
    describe = getattr(source, "describe", None)
    return str(describe(key)) if describe is not None else f"{source.name} ({key})"


class ModelFollower:
    """Checks ``source`` (every ``interval`` s when it can move, or on demand) and hands
    each new model to ``install``; a candidate that fails is refused, logged, counted
    (``on_failure``) and tried again by the timer only ``RETRY_REFUSED_SECONDS`` later."""

    def __init__(
        self,
        source: ModelSource,
        current: LoadedModel | None,
        install: Callable[[LoadedModel], None],
        interval: float,
        on_failure: Callable[[], None] = lambda: None,
        role: str = "model",
        switching: QuickSwitching | None = None,
    ) -> None:
        self.source, self.install, self.interval = source, install, interval
        self.on_failure, self.role = on_failure, role
        # The server passes one instance to all its followers (None: loads leave the
        # interval alone): the interval is the interpreter's, and only one counter knows
        # when the last load has ended.
        self.switching = switching
        # None: no model yet (a shadow that could not be loaded at start-up)
        self.current = None if current is None else source.key_of(current)
        self.refused: str | None = None
        self._refused_at = 0.0
        self._lock = threading.Lock()  # one check at a time: a poll and POST /admin/reload
        self._since = 0.0  # when the running check started
        self._unavailable: tuple[str, float] | None = None  # the last warning, and when

    @property
    def polls(self) -> bool:
        """Whether a timer checks the source (an alias, and an interval above 0)."""
        return self.source.follows and self.interval > 0

    def check(self, force: bool = False) -> Outcome:
        """Ask the source which model it names; load and install it if it is new.

        Blocking (a download, a verification): call it from a thread. ``force`` (an
        explicit reload) retries a candidate that was refused before, and waits up to
        ``BUSY_WAIT_SECONDS`` for a check already running (a poll just waits for the next
        interval): past that, "busy". Calls queued behind a registry that hangs would
        each hold one of the server's worker threads.
        """
        if not self._lock.acquire(timeout=BUSY_WAIT_SECONDS if force else 0):
            running = time.monotonic() - self._since
            return Outcome(
                "busy",
                None,
                f"a check of {self.source.name} has been running for {running:.0f} s "
                "(a poll or another reload); ask again once it ends",
            )
        self._since = time.monotonic()
        try:
            return self._check(force)
        finally:
            self._lock.release()

    def _check(self, force: bool) -> Outcome:
        try:
            key = self.source.latest()
        except Exception as exc:
            self._warn_unavailable(str(exc))
            return Outcome("unavailable", None, f"cannot check {self.source.name}")
        if self._unavailable is not None:
            logger.info("%s reload: %s can be checked again", self.role, self.source.name)
            self._unavailable = None
        if key == self.current:
            return Outcome("unchanged", key, f"{_describe(self.source, key)} is served")
        waited = time.monotonic() - self._refused_at
        if key == self.refused and not force and waited < RETRY_REFUSED_SECONDS:
            return Outcome("refused", key, f"{_describe(self.source, key)} was refused")
        return self._load(key)

    def _warn_unavailable(self, reason: str) -> None:
        """Warn that the source cannot be asked: when the reason is new, or once every
        ``REPEAT_WARNING_SECONDS`` while it lasts (each poll in between: a debug line)."""
        last, at = self._unavailable or (None, 0.0)
        level, now = logging.DEBUG, time.monotonic()
        if reason != last or now - at >= REPEAT_WARNING_SECONDS:
            level, self._unavailable = logging.WARNING, (reason, now)
        logger.log(level, "%s reload: cannot check %s: %s", self.role, self.source.name, reason)

    def _load(self, key: str) -> Outcome:
        name = _describe(self.source, key)
        was = "no model" if self.current is None else _describe(self.source, self.current)
        logger.info("%s reload: %s is new (serving %s): loading it", self.role, name, was)
        try:
            quick = self.switching.during() if self.switching else contextlib.nullcontext()
            with quick:  # the requests get the GIL back sooner meanwhile
                self.install(self.source.load(key))
        except Exception as exc:
            self.refused, self._refused_at = key, time.monotonic()
            self.on_failure()
            logger.debug("%s reload of %s failed", self.role, name, exc_info=True)
            logger.error(
                "%s reload refused: %s: %s; still serving %s",
                self.role,
                name,
                exc if isinstance(exc, PetalflowError) else f"{type(exc).__name__}: {exc}",
                was,
            )
            return Outcome("refused", key, f"{name} was refused; the server log says why")
        self.current, self.refused = key, None
        return Outcome("switched", key, f"{name} is now served (was {was})")

    async def follow(self) -> None:
        """Check every ``interval`` s until cancelled (returns at once if it never polls)."""
        if not self.polls:
            return
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.check)

    def start(self) -> asyncio.Task[None] | None:
        """The polling task on the running loop (None when nothing is polled)."""
        if not self.polls:
            return None
        logger.info("%s reload: checking %s every %g s", self.role, self.source.name, self.interval)
        return asyncio.create_task(self.follow(), name=f"petalflow-{self.role}-follower")


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a follower's polling task (a load in its thread finishes on its own)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
