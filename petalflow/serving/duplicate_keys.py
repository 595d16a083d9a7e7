"""Repeated keys in a JSON body: refused (422), since parsers silently keep the last.

An ambiguous body would flip a prediction, so every JSON body passes
``check_unique_keys``, which costs one byte count in the usual case.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from petalflow.core.errors import InvalidRequestError
from petalflow.serving.schemas import shown_name, summarize


class DuplicateKeyError(InvalidRequestError):
    """An object in the body repeats a key (422): which value counts would be a guess."""

    code = "duplicate_key"


def duplicate_key_error(
    repeats: list[tuple[str, int]],
    within: str | None = None,
    unit: str = "key",
    place: str | None = None,
) -> DuplicateKeyError:
    """The error naming each repeated key: (dotted path, how many times it came).

    ``within``: the field holding the names (e.g. a list of columns), if not an object;
    ``place``: where the message says the names came, if neither (a CSV header line).
    """
    details = [
        {
            "field": within or shown_name(name),
            "rule": "duplicate_key",
            "message": f"{shown_name(name)} appears {'twice' if n == 2 else f'{n} times'} in "
            f"{place or within or 'one object'}; send each {unit} once",
        }
        for name, n in repeats
    ]
    return DuplicateKeyError(f"invalid request: {summarize(details)}", details)


_NUMPY_ABOVE = 4096  # bytes: above this NumPy counts a byte faster than bytes.count


def check_unique_keys(body: bytes, keys: int) -> None:
    """Raise DuplicateKeyError if an object of ``body`` repeats a key.

    ``keys``: how many keys the parsed body holds, at least (the parsers keep one per
    name). Every key is followed by a colon, so a body with no more colons than that
    repeats none: the usual case, decided by one count at C speed. Only a body with more
    (a repeat, or colons inside strings) is parsed again, pair by pair.
    """
    if len(body) <= _NUMPY_ABOVE:
        colons = body.count(b":")
    else:
        colons = int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord(":")))
    if colons > keys:
        repeats = repeated_keys(body)
        if repeats:
            raise duplicate_key_error(repeats)


class _Repeats(dict[str, Any]):
    """A parsed object that repeated keys; ``counts``: each such key, how many times."""

    counts: dict[str, int]


def repeated_keys(body: bytes) -> list[tuple[str, int]]:
    """Each repeated key of the JSON ``body``: (dotted path, occurrences), in order.

    ``body`` has been parsed already; should Python's parser refuse it nonetheless,
    there is nothing to report.
    """
    found: list[_Repeats] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            obj = _Repeats(obj)
            counts = Counter(key for key, _ in pairs)
            obj.counts = {key: n for key, n in counts.items() if n > 1}
            found.append(obj)
        return obj

    try:
        document = json.loads(body, object_pairs_hook=pairs_hook)
    except RecursionError:
        message = "body nests too deeply to be checked for repeated keys; flatten it"
        detail = {"field": None, "rule": "max_depth", "message": message}
        raise InvalidRequestError(message, [detail]) from None
    except ValueError:
        return []
    return _paths_of(document) if found else []


def _paths_of(document: Any) -> list[tuple[str, int]]:
    """The repeated keys in a document parsed by ``repeated_keys``, depth first."""
    repeats: list[tuple[str, int]] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        prefix = f"{path}." if path else ""
        if isinstance(value, _Repeats):
            repeats.extend((f"{prefix}{key}", n) for key, n in value.counts.items())
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        children = [(f"{prefix}{key}", v) for key, v in items if isinstance(v, dict | list)]
        stack.extend(reversed(children))
    return repeats
