"""The encoder's classes cache: equal classes reuse it, other classes rebuild it."""

from __future__ import annotations

import numpy as np
import orjson

from petalflow.monitoring.prediction_log.encoding import Encoder, QueuedRequest, labels_of


def _request(classes: list[str], labels: list[str]) -> QueuedRequest:
    proba = np.full((len(labels), len(classes)), 1 / len(classes))
    return QueuedRequest(
        "r", 0.0, "v1", len(labels), np.zeros((len(labels), 2)), labels, proba, classes
    )


def _stored(encoder: Encoder, request: QueuedRequest) -> tuple[bytes, str]:
    values = encoder.encode([request], lambda item: None).values
    return values[5], values[7]  # labels, classes


def test_encoder_encodes_labels_against_each_requests_classes() -> None:
    encoder = Encoder()
    first = ["a", "b", "c"]
    codes, classes_json = _stored(encoder, _request(first, ["c", "a"]))
    assert (codes, orjson.loads(classes_json)) == (bytes([2, 0]), first)
    # equal classes in a new list (a model's class_names): the same encoding
    codes, classes_json = _stored(encoder, _request(list(first), ["b", "c"]))
    assert codes == bytes([1, 2]) and orjson.loads(classes_json) == first
    # other classes (another model): positions in those, not the cached ones
    other = ["c", "b", "a", "d"]
    codes, classes_json = _stored(encoder, _request(other, ["c", "d"]))
    assert codes == bytes([0, 3]) and orjson.loads(classes_json) == other
    assert labels_of(codes, orjson.loads(classes_json)) == ["c", "d"]
