"""SQLite plumbing shared by the writer, the log and the reader: connections, transactions."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


@contextmanager
def connect(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    """A read-write autocommit connection that waits up to ``timeout`` s for a lock."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    with closing(conn):
        conn.execute("PRAGMA synchronous=NORMAL")
        yield conn


@contextmanager
def connect_readonly(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write: SQLite refuses writes, and never creates the file."""
    # as_uri() percent-encodes the path, so '?', '#' or '%' in a file name stay literal.
    uri = f"{path.absolute().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    with closing(conn):
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
