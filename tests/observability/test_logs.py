import asyncio
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import pytest

from petalflow.observability import logs
from petalflow.observability.logs import (
    AccessLog,
    JsonFormatter,
    JsonLineHandler,
)


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


@pytest.fixture
def access_logger() -> Iterator[logging.Logger]:
    """A fresh logger tree shaped like serve.py's: petalflow_t (handler) -> .access."""
    parent = logging.getLogger("petalflow_t")
    child = logging.getLogger("petalflow_t.access")
    yield child
    parent.handlers[:] = []
    child.handlers[:] = []
    child.filters[:] = []
    parent.propagate = True


def _configure(logger: logging.Logger, stream: TextIO, level: str = "INFO") -> JsonLineHandler:
    handler = JsonLineHandler(stream)
    parent = logger.parent
    assert parent is not None
    parent.handlers[:] = [handler]
    parent.setLevel(level)
    parent.propagate = False
    return handler


@pytest.mark.parametrize("kind", ["file", "stringio"])
def test_access_log_fast_line_equals_logging_line(
    access_logger: logging.Logger, tmp_path: Path, kind: str
) -> None:
    fields = {"request_id": "r1", "status": 200, "latency_ms": 0.25, "path": Path("/p")}
    with (tmp_path / "log.txt").open("w") as file:
        stream: TextIO = file if kind == "file" else io.StringIO()
        _configure(access_logger, stream)
        AccessLog(access_logger)(fields)  # the direct line
        access_logger.info("request", extra={"fields": fields})  # the logging module's
        text = stream.getvalue() if isinstance(stream, io.StringIO) else ""
    if kind == "file":
        text = (tmp_path / "log.txt").read_text()
    direct, logged = (json.loads(line) for line in text.splitlines())
    assert direct.pop("time")[:10] == logged.pop("time")[:10]
    assert direct == logged
    assert direct["logger"] == "petalflow_t.access" and direct["path"] == "/p"


def _no_logging_call(*args: object, **kwargs: object) -> None:
    raise AssertionError("the access line went through logging, not the direct write")


def test_access_log_fast_path_bypasses_logging(
    access_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    _configure(access_logger, stream)
    monkeypatch.setattr(access_logger, "info", _no_logging_call)
    monkeypatch.setattr(access_logger, "handle", _no_logging_call)
    AccessLog(access_logger)({"request_id": "r1"})
    assert json.loads(stream.getvalue())["request_id"] == "r1"


def test_access_log_respects_level(access_logger: logging.Logger) -> None:
    stream = io.StringIO()
    _configure(access_logger, stream, level="WARNING")
    AccessLog(access_logger)({"request_id": "r1"})
    assert stream.getvalue() == ""


def test_access_log_uses_logging_when_other_handlers_or_filters(
    access_logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    _configure(access_logger, stream)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    access_logger.addHandler(Keep())
    AccessLog(access_logger)({"request_id": "r1"})
    assert [r.fields for r in seen] == [{"request_id": "r1"}]  # type: ignore[attr-defined]
    access_logger.handlers[:] = []
    access_logger.addFilter(lambda record: False)
    AccessLog(access_logger)({"request_id": "r2"})
    assert "r1" in stream.getvalue() and "r2" not in stream.getvalue()


def test_access_log_lines_stay_whole_across_threads(
    access_logger: logging.Logger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "log.txt").open("w") as file:
        _configure(access_logger, file)
        monkeypatch.setattr(access_logger, "info", _no_logging_call)  # direct writes only
        access = AccessLog(access_logger)

        def burst(thread: int) -> None:
            for i in range(500):
                access({"request_id": f"{thread}-{i}", "pad": "x" * 300})
                if i % 50 == 0:
                    access_logger.warning("via logging %d", i, extra={"fields": {"t": thread}})

        threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = [json.loads(line) for line in (tmp_path / "log.txt").read_text().splitlines()]
    ids = {line["request_id"] for line in lines if "request_id" in line}
    assert len(ids) == 2000 and len(lines) == 2000 + 4 * 10


class _Writes:
    """``os.write`` as the logs module calls it, recording each call's bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[bytes] = []
        real = logs.os.write

        def write(fd: int, data: bytes) -> int:
            self.calls.append(bytes(data))
            return real(fd, data)

        monkeypatch.setattr(logs.os, "write", write)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_access_log_on_an_event_loop_writes_its_lines_together_later(
    access_logger: logging.Logger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "DEFER_SECONDS", 0.01)
    writes = _Writes(monkeypatch)
    path = tmp_path / "log.txt"

    async def serve() -> list[dict[str, object]]:
        access = AccessLog(access_logger)
        for i in range(3):
            access({"request_id": f"r{i}"})
        before = path.read_text()
        await asyncio.sleep(0.2)  # the timer (0.01 s) fires meanwhile
        assert before == ""
        return _lines(path)

    with path.open("w") as file:
        _configure(access_logger, file)
        lines = asyncio.run(serve())
    assert [line["request_id"] for line in lines] == ["r0", "r1", "r2"]
    assert len(writes.calls) == 1 and writes.calls[0].count(b"\n") == 3


@pytest.mark.parametrize("pad", [0, 900, 1800, 5000])
def test_access_log_writes_at_most_a_pipe_buffer_of_whole_lines(
    access_logger: logging.Logger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pad: int
) -> None:
    writes = _Writes(monkeypatch)
    path = tmp_path / "log.txt"

    async def serve() -> None:
        access = AccessLog(access_logger)
        for i in range(10):
            access({"request_id": f"r{i}", "pad": "x" * pad})

    with path.open("w") as file:
        handler = _configure(access_logger, file)
        asyncio.run(serve())  # the loop ends before the timer: flush() writes the rest
        handler.flush()
    assert [line["request_id"] for line in _lines(path)] == [f"r{i}" for i in range(10)]
    line_bytes = len(writes.calls[-1].split(b"\n")[0]) + 1
    per_write = max(1, logs.DEFER_BYTES // line_bytes)  # what fits, or one larger line
    assert [c.count(b"\n") for c in writes.calls[:-1]] == [per_write] * (len(writes.calls) - 1)
    assert all(c.endswith(b"\n") for c in writes.calls)
    if line_bytes <= logs.DEFER_BYTES:
        assert all(len(c) <= logs.DEFER_BYTES for c in writes.calls)


def test_logging_record_follows_the_deferred_access_lines_at_once(
    access_logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "log.txt"

    async def serve() -> list[dict[str, object]]:
        AccessLog(access_logger)({"request_id": "r1"})
        access_logger.warning("after the request")
        return _lines(path)  # no wait: the record wrote the access line first

    with path.open("w") as file:
        _configure(access_logger, file)
        lines = asyncio.run(serve())
    assert [(line.get("request_id"), line["level"]) for line in lines] == [
        ("r1", "INFO"),
        (None, "WARNING"),
    ]


def test_access_log_without_an_event_loop_writes_at_once(
    access_logger: logging.Logger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _Writes(monkeypatch)
    path = tmp_path / "log.txt"
    with path.open("w") as file:
        _configure(access_logger, file)
        access = AccessLog(access_logger)
        access({"request_id": "r1"})
        assert [line["request_id"] for line in _lines(path)] == ["r1"]
        access({"request_id": "r2"})
    assert [c.count(b"\n") for c in writes.calls] == [1, 1]
