"""Prometheus metrics: the workers' shared folder and the cached gauges."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from petalflow.observability.metrics import (
    CachedCollector,
    Telemetry,
    forget_dead_workers,
    supervisor_metrics_dir,
)
from tests.conftest import ROOT


def test_supervisor_metrics_dir_single_process_stays_in_memory() -> None:
    assert supervisor_metrics_dir() is None


def test_supervisor_metrics_dir_is_keyed_by_the_parent_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing

    class Parent:
        pid = 4242

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: Parent())
    folder = supervisor_metrics_dir()
    assert folder is not None
    assert folder.name.startswith("petalflow-metrics-4242-")


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> Iterable[Any]:
        self.calls += 1
        gauge = GaugeMetricFamily("petalflow_test_calls", "calls")
        gauge.add_metric([], self.calls)
        return [gauge]


def test_cached_collector_recomputes_only_after_its_interval() -> None:
    now = [100.0]
    inner = _Counting()
    cached = CachedCollector(inner, 10.0, clock=lambda: now[0])
    first = list(cached.collect())
    now[0] = 109.9
    second = list(cached.collect())
    assert inner.calls == 1 and second[0].samples[0].value == 1
    now[0] = 110.0
    third = list(cached.collect())
    assert inner.calls == 2 and third[0].samples[0].value == 2
    assert first[0].samples[0].value == 1


def test_cached_collector_with_zero_interval_recomputes_every_time() -> None:
    inner = _Counting()
    cached = CachedCollector(inner, 0.0, clock=lambda: 5.0)
    cached.collect()
    cached.collect()
    assert inner.calls == 2


def _info_samples(telemetry: Telemetry) -> list[tuple[dict[str, str], float]]:
    families = text_string_to_metric_families(telemetry.render().decode())
    family = next(f for f in families if f.name == "petalflow_model_info")
    return [(s.labels, s.value) for s in family.samples]


def _labels(version: str, registered: str = "") -> dict[str, str]:
    return {
        "model_version": version,
        "model_id": f"m-{version}",
        "registered_model": "iris" if registered else "",
        "registered_version": registered,
        "registered_alias": "champion" if registered else "",
        "source": "models:/iris@champion",
    }


def test_show_model_replaces_the_previous_model_in_one_process() -> None:
    telemetry = Telemetry()
    telemetry.show_model(_labels("run1", "1"))
    assert _info_samples(telemetry) == [(_labels("run1", "1"), 1.0)]
    telemetry.show_model(_labels("run2", "2"), previous=_labels("run1", "1"))
    assert _info_samples(telemetry) == [(_labels("run2", "2"), 1.0)]


def test_reload_failures_start_at_zero_and_count() -> None:
    telemetry = Telemetry()
    text = telemetry.render().decode()
    assert "petalflow_reload_failures_total 0.0" in text
    telemetry.reload_failures.inc()
    assert "petalflow_reload_failures_total 1.0" in telemetry.render().decode()


def test_forget_dead_workers_removes_only_dead_workers_live_gauges(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead, alive = child.pid, os.getpid()
    names = [
        f"gauge_livemin_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"counter_{dead}.db",  # what a dead worker counted still counts
        f"gauge_livemin_{alive}.db",
        f"gauge_max_{dead}.db",  # not a live mode: kept by design
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    forget_dead_workers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_livemin_{alive}.db", f"gauge_max_{dead}.db"]
    )


_WORKER = """
import sys
from pathlib import Path
from petalflow.observability.metrics import Telemetry
telemetry = Telemetry(Path(sys.argv[1]))
telemetry.log_up(sys.argv[2] == "up")
telemetry.show_model({"model_version": sys.argv[3], "model_id": "", "registered_model": "",
                      "registered_version": "", "registered_alias": "", "source": "s"})
if len(sys.argv) > 4:
    sys.stdout.write(telemetry.render().decode())
"""


def test_a_dead_workers_gauges_leave_the_scrape(tmp_path: Path) -> None:
    # A worker whose log was down, serving version a, exits (killed, replaced): the
    # running worker's scrape shows its own log up and version b only.
    run = [sys.executable, "-c", _WORKER, str(tmp_path)]
    subprocess.run([*run, "down", "a"], check=True, cwd=ROOT)
    scraped = subprocess.run(
        [*run, "up", "b", "render"], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    samples = {
        (s.name, s.labels.get("model_version")): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
        if s.name in ("petalflow_prediction_log_up", "petalflow_model_info")
    }
    assert samples == {
        ("petalflow_prediction_log_up", None): 1.0,
        ("petalflow_model_info", "b"): 1.0,
    }


def test_forget_dead_workers_in_several_threads_at_once_raises_nothing(tmp_path: Path) -> None:
    # Two scrapes, or a scrape and a starting worker, see the same dead worker's files.
    import threading

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    errors: list[BaseException] = []

    def forget() -> None:
        try:
            forget_dead_workers(tmp_path)
        except BaseException as exc:
            errors.append(exc)

    for _ in range(50):
        for mode in ("livemin", "livemax", "livesum", "liveall", "livemostrecent"):
            (tmp_path / f"gauge_{mode}_{child.pid}.db").write_bytes(b"")
        threads = [threading.Thread(target=forget) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and list(tmp_path.iterdir()) == []


def test_forget_dead_workers_also_forgets_a_reused_pid(tmp_path: Path) -> None:
    # A new worker given a dead one's pid must not inherit its gauges.
    own = tmp_path / f"gauge_livemax_{os.getpid()}.db"
    own.write_bytes(b"")
    forget_dead_workers(tmp_path)
    assert own.exists()  # a running worker's: kept
    forget_dead_workers(tmp_path, including=os.getpid())
    assert not own.exists()
