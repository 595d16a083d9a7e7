"""Prometheus metrics (prometheus-client), correct with several uvicorn workers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Telemetry:
    """Request, latency, prediction and model-info metrics of one app."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
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
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._prediction_children: dict[tuple[str, str], Any] = {}
        self.model_info = Gauge(
            "petalflow_model_info",
            "The served model (value 1), labelled with its version and source",
            ["model_version", "source"],
            multiprocess_mode="max",
            registry=target,
        )

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

    def render(self, collectors: Iterable[Collector] = ()) -> bytes:
        """The exposition text: request metrics plus ``collectors`` (drift, accuracy)."""
        registry = CollectorRegistry()
        if self.multiprocess:
            multiprocess.MultiProcessCollector(registry)
        else:
            for metric in (self.requests, self.latency, self.predictions, self.model_info):
                registry.register(metric)
        for collector in collectors:
            registry.register(collector)
        return bytes(generate_latest(registry))
