"""What /invocations ignores is counted every time and logged once per distinct set."""

from __future__ import annotations

import logging
import sys

import pytest

from petalflow.observability.metrics import Telemetry
from petalflow.serving.ignored_inputs import IgnoredInputs, names_digest


def _count(telemetry: Telemetry, kind: str) -> float:
    text = telemetry.render().decode()
    line = f'petalflow_invocations_ignored_inputs_total{{kind="{kind}"}} '
    values = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
    return values[0] if values else 0.0


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "petalflow.serving.ignored_inputs"]


def test_ignored_inputs_counts_every_name_and_logs_each_set_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = Telemetry()
    ignored = IgnoredInputs(telemetry)
    with caplog.at_level(logging.WARNING):
        ignored.note({"column": ("id", "ts"), "key": ()})
        ignored.note({"column": ("ts", "id")})  # the same set, in another order
        ignored.note({"column": ("id",), "key": ("signature_name",), "param": ("k",)})
    assert _count(telemetry, "column") == 5
    assert _count(telemetry, "key") == 1
    assert _count(telemetry, "param") == 1
    logged = _warnings(caplog)
    assert len(logged) == 4  # {id, ts}, {id}, {signature_name}, {k}
    assert "columns that are not features of the model: ['id', 'ts']" in logged[0]
    assert "top-level keys beside the input format: ['signature_name']" in logged[2]


def test_ignored_inputs_stops_logging_new_sets_past_its_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = Telemetry()
    ignored = IgnoredInputs(telemetry, remember=3)
    with caplog.at_level(logging.WARNING):
        for i in range(6):
            ignored.note({"column": (f"c{i}",)})
    logged = _warnings(caplog)
    assert len(logged) == 4
    assert "only counted" in logged[-1]
    assert _count(telemetry, "column") == 6


def test_ignored_inputs_shortens_long_names_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    ignored = IgnoredInputs(Telemetry())
    with caplog.at_level(logging.WARNING):
        ignored.note({"column": tuple("x" * 200 + str(i) for i in range(30))})
    (message,) = _warnings(caplog)
    assert "x" * 64 in message and "x" * 65 not in message
    assert "and 10 more" in message


def _stored_bytes(value: object) -> int:
    """The bytes ``value`` holds, with what its tuples and sets hold."""
    size = sys.getsizeof(value)
    if isinstance(value, tuple | frozenset | set):
        size += sum(_stored_bytes(part) for part in value)
    return size


def test_ignored_inputs_remembers_a_set_in_a_size_that_does_not_grow_with_its_names() -> None:
    ignored = IgnoredInputs(Telemetry())
    for length in (1, 1_000, 900_000):
        ignored.note({"column": ("x" * length, "y" * length)})
    sizes = {_stored_bytes(entry) for entry in ignored._seen}
    assert len(ignored._seen) == 3  # three sets remembered...
    assert len(sizes) == 1 and max(sizes) < 200  # ...in one small size, whatever the names


@pytest.mark.parametrize(
    ("names", "same"),
    [
        (("id", "ts"), ("ts", "id", "id")),  # a set: order and repeats do not count
        (("\ud800",), ("\ud800",)),  # a lone surrogate (JSON allows one) is hashed too
    ],
)
def test_names_digest_is_one_per_set_of_names(
    names: tuple[str, ...], same: tuple[str, ...]
) -> None:
    assert names_digest(names) == names_digest(same)
    assert len(names_digest(names)) == 16


@pytest.mark.parametrize(
    ("names", "other"),
    [(("ab", "c"), ("a", "bc")), (("a",), ("a", "")), (("id",), ("ID",))],
)
def test_names_digest_tells_different_sets_apart(
    names: tuple[str, ...], other: tuple[str, ...]
) -> None:
    assert names_digest(names) != names_digest(other)
