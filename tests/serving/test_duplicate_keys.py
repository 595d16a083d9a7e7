"""Repeated keys in JSON bodies: found by path, refused with a 422 naming them."""

from __future__ import annotations

import pytest

from petalflow.core.errors import InvalidRequestError
from petalflow.serving import duplicate_keys
from petalflow.serving.duplicate_keys import (
    DuplicateKeyError,
    check_unique_keys,
    duplicate_key_error,
    repeated_keys,
)

ROW = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2'


def never(body: bytes) -> list[tuple[str, int]]:
    raise AssertionError("the precise duplicate check ran")


@pytest.mark.parametrize(
    ("body", "repeats"),
    [
        (b'{"a": 1, "a": 2}', [("a", 2)]),
        (b'{"a": 1, "b": 2, "a": 1, "a": 3}', [("a", 3)]),
        (
            b'{"x": [{"a": 1}, {"b": 1, "b": 1}], "y": {"c": {"d": 1, "d": 2}}}',
            [("x.1.b", 2), ("y.c.d", 2)],
        ),
        (b'{"x": {"a": 1, "a": 2}, "x": 3}', [("x", 2)]),  # the dropped value's repeat is moot
        (b'[{"k": 1, "k": 2}, {"k": 3, "j": 4, "j": 5}]', [("0.k", 2), ("1.j", 2)]),
        (b'{"a": 1, "b": 2, "a": 3, "b": 4}', [("a", 2), ("b", 2)]),
        (b'{"a": "1:2", "b": {"c": "12:00:00"}}', []),
        (b'{"a": 1, "A": 2, "a ": 3}', []),
        (b"{", []),  # refused by Python's parser: nothing to report
    ],
)
def test_repeated_keys_names_each_repeat_by_its_path(
    body: bytes, repeats: list[tuple[str, int]]
) -> None:
    assert repeated_keys(body) == repeats


def test_repeated_keys_refuses_a_body_nested_too_deeply() -> None:
    body = b'{"a": ' * 1020 + b"1" + b"}" * 1020
    with pytest.raises(InvalidRequestError, match=r"nests too deeply.*flatten it") as caught:
        repeated_keys(body)
    assert caught.value.details[0]["rule"] == "max_depth"


@pytest.mark.parametrize("rows", [1, 200])  # 200 rows: the NumPy count (over 4 KiB)
def test_check_unique_keys_trusts_an_exact_colon_count(
    monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    monkeypatch.setattr(duplicate_keys, "repeated_keys", never)
    body = b'{"instances": [' + b", ".join([ROW + b"}"] * rows) + b"]}"
    assert len(body) > duplicate_keys._NUMPY_ABOVE or rows == 1
    check_unique_keys(body, 1 + 4 * rows)


@pytest.mark.parametrize("rows", [1, 200])
def test_check_unique_keys_finds_a_repeat_in_the_last_row(rows: int) -> None:
    body = b'{"instances": [' + b", ".join([ROW + b"}"] * rows) + b"]}"
    body = body[: -len(b"}]}")] + b', "sepal_width": 3.5}]}'
    with pytest.raises(DuplicateKeyError, match=rf"instances\.{rows - 1}\.sepal_width appears"):
        check_unique_keys(body, 1 + 4 * rows)


def test_check_unique_keys_checks_precisely_when_strings_hold_colons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = b'{"t": "12:00", "u": "a:b"}'
    check_unique_keys(body, 2)  # no repeat: accepted
    calls: list[bytes] = []

    def precise(checked: bytes) -> list[tuple[str, int]]:
        calls.append(checked)
        return []

    monkeypatch.setattr(duplicate_keys, "repeated_keys", precise)
    check_unique_keys(body, 2)
    assert calls == [body]


def test_duplicate_key_error_names_a_list_of_names() -> None:
    error = duplicate_key_error([("a", 2), ("b", 3)], within="cols", unit="column")
    assert error.message == (
        "invalid request: a appears twice in cols; send each column once (duplicate_key); "
        "b appears 3 times in cols; send each column once (duplicate_key)"
    )
    assert [d["field"] for d in error.details] == ["cols", "cols"]


def test_duplicate_key_error_names_each_name_as_its_field_in_a_place() -> None:
    error = duplicate_key_error([("a", 2)], unit="column", place="the CSV header")
    assert error.message == (
        "invalid request: a appears twice in the CSV header; send each column once (duplicate_key)"
    )
    assert [(d["field"], d["rule"]) for d in error.details] == [("a", "duplicate_key")]


def test_duplicate_key_error_names_a_long_key_cut_short() -> None:
    error = duplicate_key_error([("k" * 300_000, 2)])
    assert error.details[0]["field"] == "k" * 64 + "…"
    assert (
        error.details[0]["message"]
        == f"{'k' * 64}… appears twice in one object; send each key once"
    )
    assert len(str(error)) < 500
