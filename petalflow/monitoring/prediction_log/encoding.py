"""The queue's items, ``QueuedRequest`` (the primary's answer) and ``ShadowScores`` (the
shadow model's), and their encoding into the inserts' parameters.

Encoding runs in the writer (the event loop's slices, or the thread), never on the
request path: ``record`` only queues the caller's arrays.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from typing import Any, NamedTuple, overload

import numpy as np
import orjson

logger = logging.getLogger(__name__)

Rows = Sequence[Sequence[float]] | np.ndarray

# Up to _CHUNK requests per statement (multi-row VALUES), for the writer thread: sqlite3
# releases and retakes the GIL once per statement, where executemany does it once per
# row, and a thread retaking it from a busy event loop waits every time. 8 x 100
# parameters stay under every SQLite build's variable limit (999 before 3.32).
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
# The first shadow answer of a request is kept (one shadow scores each request once).
_SHADOW_INSERT = (
    "INSERT OR IGNORE INTO shadow_predictions (request_id, created_at, model_version, "
    "n_rows, labels, probabilities, classes) VALUES "
)
_SHADOW_ROW = "(?, ?, ?, ?, ?, ?, ?)"


class CodedLabels(Sequence[str]):
    """A batch's labels held as their positions in the classes: what the queue keeps of
    the labels when the caller has the codes (the predictor's argmax). An integer array,
    which the garbage collector never walks; a queued list of 1,000 labels was walked by
    every collection while it waited (~10% of a 1,000-row batch's throughput)."""

    __slots__ = ("classes", "codes")

    def __init__(self, codes: np.ndarray, classes: Sequence[str]) -> None:
        self.codes, self.classes = codes, classes

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self.classes[c] for c in self.codes[i].tolist()]
        return self.classes[int(self.codes[i])]

    def __iter__(self) -> Iterator[str]:
        return iter([self.classes[c] for c in self.codes.tolist()])


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


class ShadowScores(NamedTuple):
    """The shadow model's answer to one logged request (``SHADOW_MODEL_URI``): a queue
    item beside the ``QueuedRequest`` items, written by the same writer."""

    request_id: str
    created_at: float
    model_version: str
    n_rows: int
    labels: Sequence[str]
    probabilities: Rows
    classes: Sequence[str]


Item = QueuedRequest | ShadowScores  # what the writer's queue holds


class Encoded(NamedTuple):
    """A transaction's parameters: the requests', the shadow answers', the requests'
    predicted rows and the items encoded (of both kinds)."""

    values: list[Any]
    shadow: list[Any]
    n_rows: int
    kept: list[Item]


_FLOAT64 = np.dtype("<f8")


def float_blob(rows: Rows) -> bytes:
    """``rows`` as a BLOB of little-endian float64, row-major (their shape is ``n_rows``
    by ``len(blob) // 8 // n_rows``); ValueError unless they form an (n, k) table of
    numbers (recent() needs one). A None (a gap) is NaN, as the codec encodes it."""
    if type(rows) is np.ndarray and rows.dtype is _FLOAT64 and rows.ndim == 2:
        return rows.tobytes()  # the server's arrays: no conversion to ask for (~3x faster)
    table = np.asarray(rows, dtype="<f8")  # ragged rows or text: ValueError
    if table.ndim != 2 and table.size:
        raise ValueError(f"rows of shape {table.shape}, not (n, k)")
    return table.tobytes()


def float_rows(stored: bytes | str, n_rows: int) -> np.ndarray:
    """The (n_rows, k) float table of a stored features or probabilities value: a
    ``float_blob``, or the JSON text of a log of schema version 3 or older (read-only
    readers do not migrate). NaN where the JSON has null."""
    if isinstance(stored, str):
        table = np.array(orjson.loads(stored), dtype=float)
        return table.reshape(n_rows, table.size // n_rows if n_rows else 0)
    if not n_rows:
        return np.empty((0, 0))
    return np.frombuffer(stored, dtype="<f8").reshape(n_rows, -1)


def label_codes(labels: Sequence[str], index: dict[str, int]) -> bytes | str:
    """``labels`` as one byte per row, the label's position in the classes (``index``:
    class -> position); JSON text when a label is not a class or there are over 256
    classes. A 1,000-row batch's codes are 1 KB (its JSON ~11 KB), beside its float64
    features (32 KB for 4 features) and probabilities (24 KB for 3 classes)."""
    try:
        if len(index) <= 256:
            if type(labels) is CodedLabels:  # ~0.5 us for 1,000 rows; the map ~23 us
                return labels.codes.astype(np.uint8).tobytes()
            if len(labels) == 1:  # a single row, the usual request: no map
                return bytes((index[labels[0]],))
            return bytes(map(index.__getitem__, labels))
    except (KeyError, TypeError):  # not a class, or unhashable (JSON may still take it)
        pass
    plain: Any = labels
    if isinstance(labels, np.ndarray):  # orjson writes numeric arrays only, not text ones
        plain = labels.tolist()
    elif type(labels) is CodedLabels:  # over 256 classes
        plain = list(labels)
    return orjson.dumps(plain, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def labels_of(stored: bytes | str, classes: Sequence[str]) -> list[str]:
    """The labels of a stored ``label_codes`` value (bytes or JSON text)."""
    if isinstance(stored, str):
        return [str(label) for label in orjson.loads(stored)]
    return [str(classes[code]) for code in stored]


class Encoder:
    """Encodes queued requests: features and probabilities as ``float_blob``, labels as
    ``label_codes``, classes as JSON; keeps the JSON and the index of the last classes
    list, which is the model's same list object on every request (its contract's)."""

    def __init__(self) -> None:
        self._classes: tuple[Sequence[str] | None, str, dict[str, int]] = (None, "", {})

    def _encoded_classes(self, classes: Sequence[str]) -> tuple[str, dict[str, int]]:
        """The JSON of ``classes`` and their index (class -> position), cached."""
        cached, classes_json, index = self._classes
        if classes is not cached:
            numpy = orjson.OPT_SERIALIZE_NUMPY
            classes_json = orjson.dumps(classes, option=numpy).decode()
            index = {str(c): i for i, c in enumerate(classes)}
            self._classes = (classes, classes_json, index)
        return classes_json, index

    def encode(self, items: list[Item], failed: Callable[[Item], None]) -> Encoded:
        """The flat insert parameters of ``items`` (requests and shadow answers), their
        predicted rows, and the items encoded; ``failed`` is called (inside the except)
        for each one that is not."""
        values: list[Any] = []
        shadow: list[Any] = []
        kept: list[Item] = []
        n = 0
        # The event loop runs this for every logged request: one call per item, locals.
        blob, codes = float_blob, label_codes
        for item in items:
            try:
                if isinstance(item, ShadowScores):
                    shadow += _shadow_values(item)
                    kept.append(item)
                    continue
                request_id, created_at, version, n_rows, features, labels, proba, classes = item
                classes_json, index = self._encoded_classes(classes)
                values += (
                    request_id,
                    created_at,
                    version,
                    n_rows,
                    blob(features),
                    codes(labels, index),
                    blob(proba),
                    classes_json,
                )
            except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
                failed(item)
                continue
            n += n_rows
            kept.append(item)
        return Encoded(values, shadow, n, kept)


def _shadow_values(item: ShadowScores) -> tuple[Any, ...]:
    """A shadow answer's insert parameters (its classes are its own: not cached)."""
    classes = [str(c) for c in item.classes]
    index = {c: i for i, c in enumerate(classes)}
    return (
        *item[:4],
        label_codes(item.labels, index),
        float_blob(item.probabilities),
        orjson.dumps(classes).decode(),
    )


def merged(parts: list[Encoded]) -> Encoded:
    """One ``Encoded`` of ``parts``' values, in their order."""
    if len(parts) == 1:
        return parts[0]
    values = list(chain.from_iterable(part.values for part in parts))
    shadow = list(chain.from_iterable(part.shadow for part in parts))
    kept = list(chain.from_iterable(part.kept for part in parts))
    return Encoded(values, shadow, sum(part.n_rows for part in parts), kept)


def insert(conn: sqlite3.Connection, encoded: Encoded) -> None:
    """Insert the encoded items (from ``Encoder.encode``), in the caller's transaction:
    the requests first, then the shadow answers, ``_CHUNK`` items per statement."""
    for values, head, row, tail in (
        (encoded.values, _INSERT, _ROW, _ON_CONFLICT),
        (encoded.shadow, _SHADOW_INSERT, _SHADOW_ROW, ""),
    ):
        width = row.count("?")
        step = width * _CHUNK
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            conn.execute(head + ", ".join([row] * (len(chunk) // width)) + tail, chunk)
