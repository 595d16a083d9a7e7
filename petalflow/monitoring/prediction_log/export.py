"""The log's predicted rows, one by one: what ``python -m petalflow monitor export``
writes. Features and probabilities are float64 BLOBs (``encoding.float_blob``), which
SQLite's own functions cannot read; this is the documented way to read them back."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from petalflow.monitoring.prediction_log.encoding import float_rows, labels_of

logger = logging.getLogger(__name__)

_ROWS = (
    "SELECT request_id, created_at, model_version, n_rows, features, labels, "
    "probabilities, classes FROM predictions ORDER BY id"
)


def predicted_rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every predicted row, oldest request first, rows in request order: request_id,
    row_index, created_at, model_version, ``feature_<i>`` (the log keeps the model's
    feature order, not its names), label, true_label (the feedback's, None without) and
    ``proba_<class>``. The cursor is lazy: one request is decoded at a time (the feedback,
    a label per labelled row, is read first)."""
    truth = {
        (request_id, index): label
        for request_id, index, label in conn.execute(
            "SELECT request_id, row_index, true_label FROM feedback"
        )
    }
    for request_id, created_at, version, n, features, labels, proba, classes in conn.execute(_ROWS):
        values = float_rows(features, n).tolist()
        scores = float_rows(proba, n).tolist()
        classes = orjson.loads(classes)
        names = [f"proba_{c}" for c in classes]
        for index, label in enumerate(labels_of(labels, classes)):
            yield {
                "request_id": request_id,
                "row_index": index,
                "created_at": created_at,
                "model_version": version,
                **{f"feature_{i}": v for i, v in enumerate(values[index])},
                "label": label,
                "true_label": truth.get((request_id, index)),
                **dict(zip(names, scores[index], strict=True)),
            }
