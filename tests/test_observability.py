import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from petalflow.observability import JsonFormatter, prepare_multiprocess_metrics


def _record(created: float, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("petalflow.x", logging.INFO, "f.py", 1, "hello %s", ("you",), None)
    record.created = created
    record.fields = fields  # type: ignore[attr-defined]
    return record


@pytest.mark.parametrize("created", [1795420536.2194877, 1795420537.0, 1795420537.9996])
def test_json_formatter_time_matches_datetime(created: float) -> None:
    line = json.loads(JsonFormatter().format(_record(created)))
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert line["time"] == expected


def test_json_formatter_merges_fields_and_message() -> None:
    formatter = JsonFormatter()
    first = json.loads(formatter.format(_record(100.5, request_id="r1", status=200)))
    second = json.loads(formatter.format(_record(101.25, path=Path("/x"))))
    assert (
        first["message"] == "hello you" and first["request_id"] == "r1" and first["status"] == 200
    )
    assert re.match(r"1970-01-01T00:01:41\.250\+00:00", second["time"])
    assert second["path"] == "/x"


def test_prepare_multiprocess_metrics_respects_explicit_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(target))
    assert prepare_multiprocess_metrics() == str(target)
    assert target.is_dir()


def test_prepare_multiprocess_metrics_single_process_stays_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert prepare_multiprocess_metrics() is None
