"""SQLite plumbing shared by the writer, the log and the reader: connections, transactions."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


def open_connection(path: Path, timeout: float, create: bool = True) -> sqlite3.Connection:
    """A read-write autocommit connection that waits up to ``timeout`` s for a lock; the
    one place connections that write are opened. Without ``create`` a missing file is an
    error (SQLITE_CANTOPEN) instead of a new empty database."""
    if create:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    else:
        uri = f"{path.absolute().as_uri()}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def connect(path: Path, timeout: float, create: bool = True) -> Iterator[sqlite3.Connection]:
    """``open_connection``, closed on exit."""
    with closing(open_connection(path, timeout, create)) as conn:
        yield conn


def open_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that cannot write and never creates the file, usable from any thread
    (its owner serializes the calls)."""
    # as_uri() percent-encodes the path, so '?', '#' or '%' in a file name stay literal.
    uri = f"{path.absolute().as_uri()}?mode=ro"
    return sqlite3.connect(
        uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
    )


@contextmanager
def connect_readonly(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write: SQLite refuses writes, and never creates the file."""
    with closing(open_readonly(path, timeout)) as conn:
        yield conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken up front, not mid-way."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (another connection writes)."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class Handle:
    """The writer thread's connection, and the file generation it was opened on."""

    def __init__(self) -> None:
        self.conn: sqlite3.Connection | None = None
        self.generation = 0

    def close(self, checkpoint: bool = False) -> None:
        """Close the connection; with ``checkpoint``, first copy the write-ahead log into
        the database file (the file was moved: its WAL stays at the old name, and SQLite
        leaves it there on close)."""
        if self.conn is None:
            return
        if checkpoint:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # best effort: another connection may be reading
                logger.debug("could not checkpoint before closing: %s", exc)
        self.conn.close()
        self.conn = None
