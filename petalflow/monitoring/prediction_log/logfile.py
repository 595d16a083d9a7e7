"""The log's file: checked at start-up, moved aside when damaged (if asked), and watched
for being moved or deleted (logrotate, an operator) so that it is recreated, not lost."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from petalflow.core.errors import PredictionLogError
from petalflow.monitoring.prediction_log.database import connect
from petalflow.monitoring.prediction_log.health import MOVED, Health, reason_of
from petalflow.monitoring.prediction_log.schema import ensure_schema

logger = logging.getLogger(__name__)

REFUSE, MOVE_ASIDE = "refuse", "move_aside"
# The start-up integrity check stops after this long (a very large log): it then starts
# unchecked, with a warning, rather than delaying the server indefinitely.
QUICK_CHECK_SECONDS = 5.0
_SIDE_FILES = ("", "-wal", "-shm")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def quick_check(path: Path, seconds: float = QUICK_CHECK_SECONDS) -> str | None:
    """Why the file at ``path`` is damaged (SQLite's words), or None if it looks sound.

    ``PRAGMA quick_check`` is interrupted after ``seconds``; a check that did not finish
    counts as sound (logged). A file that does not exist yet is sound.
    """
    if not path.exists():
        return None
    deadline = time.monotonic() + seconds
    conn = sqlite3.connect(path, timeout=seconds, isolation_level=None)
    try:
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.OperationalError as exc:
        if "interrupted" not in str(exc):
            raise
        logger.warning("the integrity check of %s took over %.0f s; skipped", path, seconds)
        return None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
        return str(exc)
    finally:
        conn.close()
    return None if found == ["ok"] else "; ".join(found)


def move_aside(path: Path) -> Path:
    """Rename the file (and its WAL and shared-memory files) to ``<name>.corrupt-<time>``."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in _SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(f"{target}{suffix}")
    return target


@contextmanager
def replacing(path: Path) -> Iterator[None]:
    """Hold the lock on the log's folder (``flock``) that every process replacing the log
    takes: several workers see the same move, and one that found the file missing must
    not unlink the -wal and -shm another has just created for its new log."""
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # no folder (or no access): SQLite's error names the path
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class LogFile:
    """The log's path and the identity (device, inode) of the file the writer writes."""

    def __init__(self, path: Path, busy_timeout: float, on_damage: str = REFUSE) -> None:
        if on_damage not in (REFUSE, MOVE_ASIDE):
            raise ValueError(f"on_damage must be {REFUSE!r} or {MOVE_ASIDE!r}, not {on_damage!r}")
        self.path, self.busy_timeout, self.on_damage = path, busy_timeout, on_damage
        self.identity: tuple[int, int] | None = None
        #: Bumped each time the file is recreated; writers reopen their connections.
        self.generation = 0
        #: The file was moved or deleted, and is not replaced yet.
        self.moved = False

    def prepare(self) -> None:
        """Check the file, create or migrate its schema, and remember which file it is.

        A damaged file is refused (PredictionLogError naming the path and the remedy),
        or moved aside and replaced when ``on_damage`` is ``move_aside``.
        """
        damage = quick_check(self.path)
        if damage is not None:
            if self.on_damage != MOVE_ASIDE:
                raise PredictionLogError(
                    f"the prediction log {self.path} is damaged ({damage}); move it aside "
                    f"(mv {self.path} {self.path}.corrupt) or point PREDICTION_LOG at a new "
                    "file, or set PREDICTION_LOG_ON_DAMAGE=move_aside to have the server "
                    "do that and start a new log"
                )
            moved = move_aside(self.path)
            logger.warning(
                "the prediction log %s is damaged (%s); moved it to %s and started a new one",
                self.path,
                damage,
                moved,
            )
        self.create()

    def create(self) -> None:
        """Create (or migrate) the schema at the path; the writers then use that file."""
        with replacing(self.path), connect(self.path, self.busy_timeout) as conn:
            ensure_schema(conn, self.path)
        self.identity = _identity(self.path)

    def changed(self) -> bool:
        """Whether the file at the path is no longer the one being written (moved,
        deleted or replaced): one ``stat``."""
        return _identity(self.path) != self.identity

    def follow(self, health: Health) -> bool:
        """Whether the file at the path is the one being written; once it is not (moved
        or deleted), False until ``replace`` has created a new one."""
        if not self.moved and not self.changed():
            return True
        if not self.moved:
            self.moved = True
            health.fail(MOVED, "the file was moved or deleted; a new one will be created")
        return False

    def replace(self, health: Health) -> None:
        """Create a new log at the path after a move, once this process's connections to
        the old file are closed (each checkpointed it first: its WAL is empty).

        SQLite leaves a moved file's -wal and -shm at the old name; with the file gone
        they are removed, so that the new database does not pick them up.
        """
        try:
            with replacing(self.path):
                if not self.path.exists():
                    for suffix in _SIDE_FILES[1:]:
                        Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.create()
        except (sqlite3.Error, OSError, PredictionLogError) as exc:
            health.fail(reason_of(exc), exc)
            return
        self.generation += 1
        self.moved = False
        logger.warning(
            "the prediction log %s was moved or deleted; writing to a new file at that path",
            self.path,
        )
