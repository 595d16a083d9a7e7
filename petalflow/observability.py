"""Logging and process set-up for the API: JSON log lines, metrics across workers.

Nothing here runs at import; serve.py calls these before it builds the app.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's ``fields`` extra is merged in.

    On the request path of every call, so it avoids per-line datetime formatting (the
    seconds part is cached) and reuses one encoder.
    """

    _encoder = json.JSONEncoder(default=str)

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._stamp}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._encoder.encode(entry)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for petalflow; uvicorn's access log is replaced by ours."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    package = logging.getLogger("petalflow")
    package.handlers[:] = [handler]
    package.setLevel(level.upper())
    package.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def _start_time(pid: int) -> str:
    try:
        # Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def prepare_multiprocess_metrics() -> str | None:
    """Share Prometheus metrics between uvicorn workers without user set-up.

    A worker spawned by ``uvicorn --workers N`` has a multiprocessing parent (the
    supervisor); all workers of one supervisor share a folder keyed by its pid and
    start time. A single process keeps plain in-memory metrics. An explicit
    PROMETHEUS_MULTIPROC_DIR (e.g. under gunicorn) is respected. Must run before
    prometheus_client is imported, which reads the variable once.
    """
    explicit = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if explicit:
        Path(explicit).mkdir(parents=True, exist_ok=True)
        return explicit
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    folder = Path(tempfile.gettempdir()) / (
        f"petalflow-metrics-{parent.pid}-{_start_time(parent.pid)}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    logger.debug("multiprocess metrics in %s", folder)
    return str(folder)
