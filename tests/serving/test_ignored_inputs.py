"""What /invocations ignores is counted every time and logged once per distinct set."""

from __future__ import annotations

import logging

import pytest

from petalflow.observability.metrics import Telemetry
from petalflow.serving.ignored_inputs import IgnoredInputs


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
