"""``PredictionLogReader``: read-only access to a prediction log, for the monitoring CLI.

It opens the file with SQLite's ``mode=ro``: it never creates, migrates or writes it, so
it is safe to point at the live file of a running server.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from petalflow.core.errors import PredictionLogError
from petalflow.monitoring.prediction_log import export, queries
from petalflow.monitoring.prediction_log.database import connect_readonly
from petalflow.monitoring.prediction_log.schema import check_version, has_log

logger = logging.getLogger(__name__)

_POINT_AT = "point --prediction-log (PREDICTION_LOG) at the server's prediction log"


class PredictionLogReader(queries.Reads):
    """The reads of PredictionLog on a read-only connection; ``open()`` checks the file."""

    def __init__(self, path: str | Path, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._open = False

    def open(self) -> PredictionLogReader:
        """Check that the file is a prediction log this code can read; self.

        Raises PredictionLogError, naming the path and the fix, otherwise.
        """
        if not self.path.is_file():
            raise PredictionLogError(f"no prediction log at {self.path}; {_POINT_AT}")
        try:
            with connect_readonly(self.path, self.busy_timeout) as conn:
                check_version(conn, self.path)
                if not has_log(conn):
                    raise PredictionLogError(
                        f"{self.path} holds no prediction log (no predictions table); {_POINT_AT}"
                    )
        except sqlite3.Error as exc:
            raise PredictionLogError(
                f"cannot read {self.path} as a prediction log ({exc}); {_POINT_AT}"
            ) from exc
        self._open = True
        return self

    def close(self) -> None:
        """Nothing to release (each read opens its own connection); reads then refuse."""
        self._open = False

    def __enter__(self) -> PredictionLogReader:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if not self._open:
            raise RuntimeError(f"the reader of {self.path} is not open; call open() first")
        with connect_readonly(self.path, self.busy_timeout) as conn:
            yield conn

    def predicted_rows(self) -> Iterator[dict[str, Any]]:
        """Every logged predicted row, one dict each (see ``export.predicted_rows``)."""
        with self._connection() as conn:
            yield from export.predicted_rows(conn)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to write: True. (Monitor flushes whichever log it is given.)"""
        return True
