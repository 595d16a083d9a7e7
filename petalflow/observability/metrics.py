"""Prometheus metrics (prometheus-client), correct with several uvicorn workers."""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The labels of petalflow_model_info (empty string for an unknown value).
MODEL_INFO_LABELS = (
    "model_version",
    "model_id",
    "registered_model",
    "registered_version",
    "registered_alias",
    "source",
)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def _model_metrics() -> tuple[Gauge, Counter]:
    """What is served (``petalflow_model_info``) and the reloads refused."""
    info = Gauge(
        "petalflow_model_info",
        "The served model (value 1; 0 once a reload replaced it), labelled with its "
        "version, logged-model id, registry entry and source",
        list(MODEL_INFO_LABELS),
        multiprocess_mode="livemax",  # a dead worker's model is not served
        registry=None,
    )
    failures = Counter(
        "petalflow_reload_failures",
        "Candidate models a reload refused, served or shadow (the current one kept serving)",
        registry=None,
    )
    return info, failures


class Telemetry:
    """Request, latency, prediction and model-info metrics of one app."""

    def __init__(self, multiproc_dir: Path | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        if multiproc_dir is not None:
            _use_multiprocess(multiproc_dir)
            # Before any metric opens a file: the worker this one replaces, say.
            forget_dead_workers(multiproc_dir, including=os.getpid())
        # Metrics are not registered globally, so that several apps (tests) never
        # clash; in multiprocess mode their values live in files read at scrape time.
        target = None
        self.requests = Counter(
            "petalflow_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=target,
        )
        self.latency = Histogram(
            "petalflow_request_latency_seconds",
            "Request latency by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=target,
        )
        self.predictions = Counter(
            "petalflow_predictions",
            "Predicted rows by model version and class",
            ["model_version", "predicted_class"],
            registry=target,
        )
        self.ignored_inputs = Counter(
            "petalflow_invocations_ignored_inputs",
            "Names /invocations ignored, as `mlflow models serve` does: columns that are no "
            "feature, top-level keys beside the format, params the model does not take",
            ["kind"],
            registry=target,
        )
        self.auth_failures = Counter(
            "petalflow_auth_failures",
            "Requests refused for their API key: missing, malformed or wrong_key",
            ["reason"],
            registry=target,
        )
        #: Whether the prediction log's metrics are exposed (set when the log starts).
        self.log_enabled = False
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._prediction_children: dict[tuple[str, str], Any] = {}
        self.model_info, self.reload_failures = _model_metrics()
        self._log_metrics = self._prediction_log_metrics()
        #: Whether the shadow's metrics are exposed (set when a shadow model is loaded).
        self.shadow_enabled = False
        self.shadow_failures = Counter(
            "petalflow_shadow_failures",
            "Requests the shadow model failed to score (the clients were answered)",
            registry=target,
        )
        self.shadow_dropped = Counter(
            "petalflow_shadow_dropped",
            "Sampled requests the shadow did not score or log: its queue or the log was full",
            registry=target,
        )

    def _prediction_log_metrics(self) -> tuple[Any, ...]:
        """The prediction log's metrics (exposed once the log starts)."""
        self.log_dropped_rows = Counter(
            "petalflow_prediction_log_dropped",
            "Predicted rows answered but not logged, by reason",
            ["reason"],
            registry=None,
        )
        # live*: only running workers count; min: any failing worker shows 0.
        self.log_up_gauge = Gauge(
            "petalflow_prediction_log_up",
            "1 while the prediction log writes, 0 while it is degraded",
            multiprocess_mode="livemin",
            registry=None,
        )
        self.log_last_write = Gauge(
            "petalflow_prediction_log_last_write_timestamp_seconds",
            "Unix time of the prediction log's last successful write",
            multiprocess_mode="livemax",
            registry=None,
        )
        return (self.log_dropped_rows, self.log_up_gauge, self.log_last_write)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its latency (children cached: labels() costs a lock)."""
        key = (route, method, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        histogram = self._latency_children.get(route)
        if histogram is None:
            histogram = self._latency_children[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def count_predictions(self, model_version: str, label: str, count: int = 1) -> None:
        """Count predicted rows of one class."""
        key = (model_version, label)
        counter = self._prediction_children.get(key)
        if counter is None:
            counter = self._prediction_children[key] = self.predictions.labels(*key)
        counter.inc(count)

    def show_model(self, labels: dict[str, str], previous: dict[str, str] | None = None) -> None:
        """Mark the served model (``MODEL_INFO_LABELS``); a replaced one goes to 0 (and,
        in one process, away). Several workers: ``livemax`` shows each model a running worker
        serves."""
        if previous is not None and previous != labels:
            self.model_info.labels(**previous).set(0)
            if self.multiproc_dir is None:
                self.model_info.remove(*(previous[name] for name in MODEL_INFO_LABELS))
        self.model_info.labels(**labels).set(1)

    def count_ignored(self, kind: str, names: int) -> None:
        """Count ``names`` ignored names of one kind (``column``, ``key``, ``param``)."""
        self.ignored_inputs.labels(kind).inc(names)

    def count_auth_failure(self, reason: str) -> None:
        """Count one request refused for its API key (``missing``, ``malformed``, ``wrong_key``)."""
        self.auth_failures.labels(reason).inc()

    def log_dropped(self, reason: str, rows: int) -> None:
        """The prediction log dropped ``rows`` predicted rows (a HealthObserver method)."""
        self.log_dropped_rows.labels(reason).inc(rows)

    def log_written(self, at: float) -> None:
        """The prediction log committed at ``at`` (Unix time)."""
        self.log_last_write.set(at)

    def log_up(self, up: bool) -> None:
        """The prediction log is writing (or not)."""
        self.log_up_gauge.set(int(up))

    def render(self, collectors: Iterable[Collector] = ()) -> bytes:
        """The exposition text: request metrics plus ``collectors`` (drift, accuracy)."""
        registry = CollectorRegistry()
        if self.multiproc_dir is not None:
            forget_dead_workers(self.multiproc_dir)
            multiprocess.MultiProcessCollector(registry, path=str(self.multiproc_dir))
        else:
            own = (self.requests, self.latency, self.predictions, self.model_info)
            for metric in (*own, self.ignored_inputs, self.reload_failures, self.auth_failures):
                registry.register(metric)
            if self.log_enabled:
                for metric in self._log_metrics:
                    registry.register(metric)
            if self.shadow_enabled:
                registry.register(self.shadow_failures)
                registry.register(self.shadow_dropped)
        for collector in collectors:
            registry.register(collector)
        return bytes(generate_latest(registry))


def _use_multiprocess(folder: Path) -> None:
    """Make prometheus_client keep this process's values in files under ``folder``.

    prometheus_client picks its value class when it is imported and reads the folder
    from the environment whenever a value file is opened; setting both here, when the
    app is built, makes it independent of what was imported first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    if getattr(values.ValueClass, "__name__", "") != "MmapedValue":
        values.ValueClass = values.MultiProcessValue()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: running
        return True
    return True


def forget_dead_workers(folder: Path, including: int | None = None) -> None:
    """Remove the live-mode gauge files of workers that no longer run (killed, and
    replaced by the supervisor), and of pid ``including`` (a new worker whose pid a dead
    one had): every scrape would read their last values, e.g. a
    ``petalflow_prediction_log_up`` of 0 long after the log recovered. Counters keep
    their files: what a dead worker counted still happened. As prometheus-client's
    ``mark_process_dead``, but safe when workers and scrapes do it at the same time."""
    for path in folder.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and (int(pid) == including or not _running(int(pid))):
            path.unlink(missing_ok=True)


def _start_time(pid: int) -> str:
    try:
        # Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def supervisor_metrics_dir() -> Path | None:
    """The metrics folder shared by the workers of one ``uvicorn --workers N`` supervisor.

    A worker spawned by it has a multiprocessing parent (the supervisor); all workers
    of one supervisor share a folder keyed by its pid and start time. A single process
    (None) keeps plain in-memory metrics.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    name = f"petalflow-metrics-{parent.pid}-{_start_time(parent.pid)}"
    return Path(tempfile.gettempdir()) / name


class CachedCollector(Collector):
    """Another collector's metrics, recomputed at most every ``seconds``.

    For gauges that are expensive to compute (drift tests over the prediction log):
    scrapes in between, from any number of Prometheus servers, get the last values.
    """

    def __init__(self, inner: Collector, seconds: float, clock: Any = time.monotonic) -> None:
        self.inner, self.seconds, self.clock = inner, seconds, clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Any]] | None = None

    def collect(self) -> Iterable[Any]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.seconds:
                self._cached = (now, list(self.inner.collect()))
            return self._cached[1]
