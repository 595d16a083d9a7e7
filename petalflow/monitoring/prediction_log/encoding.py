"""The queue's item, ``QueuedRequest``, and its encoding into the insert's parameters.

Encoding runs in the writer, never on the request path: ``record`` only queues the
caller's arrays.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson

logger = logging.getLogger(__name__)

Rows = Sequence[Sequence[float]] | np.ndarray

# Up to _CHUNK requests per statement (multi-row VALUES): sqlite3 releases and retakes
# the GIL once per statement, where executemany does it once per row, and under load
# each of those hand-offs stalls the event loop's thread. 8 x 100 parameters stay under
# every SQLite build's variable limit (999 before 3.32).
_CHUNK = 100
_INSERT = (
    "INSERT INTO predictions (request_id, created_at, model_version, n_rows, "
    "features, labels, probabilities, classes) VALUES "
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
# A request id already logged: the first request's row stays, and is marked when the
# features differ (two workers answered the same X-Request-ID within one drain).
_ON_CONFLICT = (
    " ON CONFLICT (request_id) DO UPDATE SET conflicted = 1 "
    "WHERE predictions.features != excluded.features"
)
_WIDTH = _ROW.count("?")  # parameters per request


class QueuedRequest(NamedTuple):
    """One recorded request, the only item on the queue, in the order of the insert's
    columns: the caller's arrays, encoded by the writer."""

    request_id: str
    created_at: float
    model_version: str
    n_rows: int
    features: Rows
    labels: Sequence[str]
    probabilities: Rows
    classes: Sequence[str]


def json_rows(rows: Rows) -> str:
    """``rows`` as JSON; ValueError unless they form an (n, k) table (recent() needs one)."""
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2 and rows.size:
            raise ValueError(f"rows of shape {rows.shape}, not (n, k)")
        # orjson serializes only C-contiguous arrays; the copy is rare and in C.
        rows = rows if rows.flags.c_contiguous else np.ascontiguousarray(rows)
    elif len({len(row) for row in rows}) > 1:
        raise ValueError("rows of different lengths")
    return orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class Encoder:
    """Encodes queued requests; keeps the JSON of the last classes list, which is the
    model's same list object on every request."""

    def __init__(self) -> None:
        self._classes: tuple[Sequence[str] | None, str] = (None, "")

    def encode(
        self, items: list[QueuedRequest], failed: Callable[[QueuedRequest], None]
    ) -> tuple[list[Any], int, list[QueuedRequest]]:
        """The flat insert parameters of ``items``, their predicted rows, and the items
        encoded; ``failed`` is called (inside the except) for each one that is not."""
        cached, classes_json = self._classes
        numpy = orjson.OPT_SERIALIZE_NUMPY
        values: list[Any] = []
        kept: list[QueuedRequest] = []
        n = 0
        for item in items:
            try:
                if item.classes is not cached:
                    cached, classes_json = (
                        item.classes,
                        orjson.dumps(item.classes, option=numpy).decode(),
                    )
                values += (
                    *item[:4],
                    json_rows(item.features),
                    orjson.dumps(item.labels, option=numpy).decode(),
                    json_rows(item.probabilities),
                    classes_json,
                )
            except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
                failed(item)
                continue
            n += item.n_rows
            kept.append(item)
        self._classes = (cached, classes_json)
        return values, n, kept


def insert(conn: sqlite3.Connection, values: list[Any]) -> None:
    """Insert the encoded requests ``values`` (from ``Encoder.encode``), in the caller's
    transaction, ``_CHUNK`` requests per statement."""
    step = _WIDTH * _CHUNK
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        sql = _INSERT + ", ".join([_ROW] * (len(chunk) // _WIDTH)) + _ON_CONFLICT
        conn.execute(sql, chunk)
