"""The encoding of the log's values: float BLOBs, label codes, the classes cache."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from petalflow.monitoring.prediction_log.encoding import (
    CodedLabels,
    Encoded,
    Encoder,
    QueuedRequest,
    Rows,
    ShadowScores,
    float_blob,
    float_rows,
    label_codes,
    labels_of,
    merged,
)


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


def test_encoder_encodes_shadow_answers_against_their_own_classes() -> None:
    request = _request(["a", "b", "c"], ["c", "a"])
    # The shadow's classes: in another order, as a numpy array (a model's classes_).
    shadow = ShadowScores(
        "r", 5.0, "v2", 2, ["a", "c"], [[0.75, 0.25], [0.5, 0.5]], np.array(["c", "a"])
    )
    failed: list[object] = []
    encoded = Encoder().encode([shadow, request], failed.append)
    assert encoded.shadow == [
        "r",
        5.0,
        "v2",
        2,
        bytes([1, 0]),  # positions in the shadow's classes, one byte per row
        _oracle([[0.75, 0.25], [0.5, 0.5]]),
        '["c","a"]',
    ]
    assert encoded.values[5] == bytes([2, 0])  # the request's, in its own classes
    assert encoded.n_rows == 2  # the request's rows; a shadow answer adds none
    assert encoded.kept == [shadow, request] and failed == []


def test_encoder_writes_numpy_scalar_classes_as_json_numbers() -> None:
    # list(model.classes_) of a model with integer classes: numpy integers; the labels
    # are matched to them by their text.
    classes = list(np.array([0, 1, 2]))
    codes, classes_json = _stored(Encoder(), _request(classes, ["2", "0"]))
    assert classes_json == "[0,1,2]"
    assert codes == bytes([2, 0])


def _oracle(rows: list[list[float]]) -> bytes:
    """Little-endian float64, row-major, packed by struct: not numpy."""
    flat = [v for row in rows for v in row]
    return struct.pack(f"<{len(flat)}d", *flat)


ROWS = [[5.1, 3.5, 1.4], [0.25, -2.0, 1e-300]]


@pytest.mark.parametrize(
    "rows",
    [
        np.array(ROWS),  # the server's arrays: taken as they are
        np.asfortranarray(ROWS),
        np.array([[5.1, 0, 3.5, 0, 1.4], [0.25, 0, -2.0, 0, 1e-300]])[:, ::2],  # a view
        np.array(ROWS, dtype=">f8"),  # big-endian: converted
        ROWS,
        [tuple(row) for row in ROWS],
    ],
)
def test_float_blob_of_any_table_is_little_endian_float64_row_major(rows: Rows) -> None:
    assert float_blob(rows) == _oracle(ROWS)


@pytest.mark.parametrize("stored", [b"", "[]"])  # a BLOB; the JSON of schema version 3
def test_float_rows_of_a_request_without_rows_are_an_empty_table(stored: bytes | str) -> None:
    assert float_blob([]) == b""
    assert float_rows(stored, 0).shape == (0, 0)


@pytest.mark.parametrize("stored", [_oracle(ROWS), "[[5.1, 3.5, 1.4], [0.25, -2.0, 1e-300]]"])
def test_float_rows_read_the_stored_table(stored: bytes | str) -> None:
    found = float_rows(stored, 2)
    assert found.dtype == np.float64
    np.testing.assert_array_equal(found, ROWS)


def test_float_blob_refuses_a_flat_row() -> None:
    with pytest.raises(ValueError, match=r"not \(n, k\)"):
        float_blob(np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    ("labels", "stored"),
    [
        (["c"], bytes([2])),
        (np.array(["b"]), bytes([1])),
        (["a", "c"], bytes([0, 2])),
        (["z"], '["z"]'),  # not a class: JSON
        ([["a"]], '[["a"]]'),  # unhashable: JSON
        (np.array(["a", "z"]), '["a","z"]'),  # a numpy text array: JSON too
        (np.array([3, 1]), "[3,1]"),  # numbers: JSON numbers
        ([np.int64(3)], "[3]"),
    ],
)
def test_label_codes_are_class_positions_or_json(labels: list[str], stored: bytes | str) -> None:
    assert label_codes(labels, {"a": 0, "b": 1, "c": 2}) == stored


def test_label_codes_are_one_byte_up_to_256_classes() -> None:
    names = [f"k{i}" for i in range(257)]
    index = {n: i for i, n in enumerate(names[:256])}
    assert label_codes(["k255", "k0"], index) == bytes([255, 0])
    index["k256"] = 256
    assert label_codes(["k255", "k0"], index) == '["k255","k0"]'


def test_label_codes_of_coded_labels_are_their_codes() -> None:
    index = {"a": 0, "b": 1, "c": 2}
    coded = CodedLabels(np.array([1, 0, 2, 1]), ["a", "b", "c"])
    assert label_codes(coded, index) == b"\x01\x00\x02\x01"
    assert label_codes(CodedLabels(np.array([2]), ["a", "b", "c"]), index) == bytes([2])
    # Over 256 classes: the labels' JSON, as for a list.
    names = [f"k{i}" for i in range(257)]
    many = CodedLabels(np.array([3, 256]), names)
    assert label_codes(many, {n: i for i, n in enumerate(names)}) == '["k3","k256"]'


def test_coded_labels_read_as_the_labels() -> None:
    coded = CodedLabels(np.array([2, 0, 1, 2]), ["setosa", "versicolor", "virginica"])
    assert len(coded) == 4
    assert list(coded) == ["virginica", "setosa", "versicolor", "virginica"]
    assert coded[0] == "virginica" and coded[-1] == "virginica" and coded[2] == "versicolor"
    assert coded[1:3] == ["setosa", "versicolor"]


def test_merged_parts_keep_their_values_in_order() -> None:
    a, b, c = (_request(["a", "b"], ["a"]) for _ in range(3))
    first = Encoded(["a1", "a2"], ["s1"], 1, [a])
    second = Encoded(["b1"], [], 2, [b])
    third = Encoded([], ["s2", "s3"], 0, [c])
    whole = merged([first, second, third])
    assert whole.values == ["a1", "a2", "b1"]
    assert whole.shadow == ["s1", "s2", "s3"]
    assert whole.n_rows == 3
    assert whole.kept == [a, b, c]
    assert merged([second]) is second
