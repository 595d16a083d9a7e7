"""The goals: each figure from the right measurements, inclusive targets, and the same
targets in docs/performance.md as in bench/goals.py (where they are defined once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.goals import (
    LIFECYCLE_TARGETS,
    PEER_TARGETS,
    PENGUIN_TARGETS,
    SCALE_TARGETS,
    TARGETS,
    Goal,
    goals,
    goals_table,
    lifecycle_goals,
    penguin_goals,
    scale_goals,
)
from bench.latency import LatencyResult
from bench.lifecycle import ReloadRun
from bench.suite import BATCH, SINGLE, Cell, Latency, Summary
from tests.conftest import ROOT

# The row of docs/performance.md's goal table that states each target.
DOC_ROWS = {
    "vs_mlflow": "`/predict` req/s vs `mlflow models serve`",
    "vs_floor": "`/predict` req/s vs the FastAPI floor",
    "p50_vs_mlflow": "`/predict` p50 at 1 connection vs mlflow's",
    "batch": "1,000-row batch rows/s vs mlflow (`/invocations`)",
    "cold_start": "cold start vs mlflow's (to the first 200 from /health)",
    "log_cost": "throughput cost of the prediction log + metrics (paired)",
    "batch_log_cost": "the same on columnar 1,000-row batches (`/predict/batch`, paired)",
    "max_latency": "maximum latency with the log on, 8 connections, 10 s",
    "p99_log_ratio": "p99 latency with the log on / off, 8 connections",
}
PEER_DOC_ROWS = {
    "mlserver_batch_logreg": "logreg: 1,000-row batch rows/s vs MLServer (`/predict/batch`, columnar)",
    "mlserver_batch_rf": "rf: 1,000-row batch rows/s vs MLServer (`/predict/batch`, columnar)",
    "mlserver_single": "`/predict` req/s vs MLServer (V2 infer, one row)",
}

LIFECYCLE_DOC_ROWS = {
    "shadow": "`/predict` req/s with a shadow model (`SHADOW_SAMPLE=1`) vs without",
    "reload_p99": "`/predict` p99 while the model is reloaded every second / steady p99, "
    "8 connections",
}


def _doc_targets() -> dict[str, str]:
    rows = {}
    for line in (ROOT / "docs" / "performance.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3:
            rows[cells[0]] = cells[2]
    return rows


def test_docs_state_the_targets_of_bench_goals() -> None:
    assert DOC_ROWS.keys() == TARGETS.keys()
    assert PEER_DOC_ROWS.keys() == PEER_TARGETS.keys()
    assert LIFECYCLE_DOC_ROWS.keys() == LIFECYCLE_TARGETS.keys()
    stated = _doc_targets()
    pairs = ((DOC_ROWS, TARGETS), (PEER_DOC_ROWS, PEER_TARGETS))
    for rows, targets in (*pairs, (LIFECYCLE_DOC_ROWS, LIFECYCLE_TARGETS)):
        for key, target in targets.items():
            op = {"≥": ">=", "≤": "<="}[target.op]
            assert stated.get(rows[key]) == f"{op} {target.value:g}{target.unit}", key


def test_issue_16_targets() -> None:
    values = {key: (t.op, t.value, t.unit, t.models) for key, t in PEER_TARGETS.items()}
    assert values == {
        "mlserver_batch_logreg": ("≥", 1.5, "x", ("logreg",)),
        "mlserver_batch_rf": ("≥", 2, "x", ("rf",)),
        "mlserver_single": ("≥", 5, "x", ("logreg", "rf")),
    }


def test_issue_targets() -> None:
    values = {key: (t.op, t.value, t.unit) for key, t in TARGETS.items()}
    assert values["vs_mlflow"] == ("≥", 25, "x")
    assert values["vs_floor"] == ("≥", 0.85, "x")
    assert values["batch"] == ("≥", 5, "x")
    assert values["log_cost"] == ("≤", 10, "%")
    assert values["batch_log_cost"] == ("≤", 15, "%")
    assert values["max_latency"] == ("≤", 25, " ms")
    assert values["p99_log_ratio"] == ("≤", 1.5, "x")


def _summary(test: str, conns: int, key: str, rps: float, p50: float = 1.0) -> Summary:
    rows = 1000 if test == BATCH else 1
    cell = Cell("logreg", test, conns, key, "/x", "body", rows)
    return Summary(cell, rps, p50, 2 * p50, 0, 3)


def _latency(key: str, times_ms: list[int]) -> Latency:
    ns = [t * 1_000_000 for t in times_ms]
    return Latency("logreg", key, 8, LatencyResult([ns], [sum(ns)], 0))


def test_goals_take_each_figure_from_its_measurements() -> None:
    summaries = [
        _summary(SINGLE, 16, "pf", 5100),
        _summary(SINGLE, 16, "mlflow", 204),
        _summary(SINGLE, 16, "floor", 6000),
        _summary(SINGLE, 1, "pf", 1, p50=0.2),
        _summary(SINGLE, 1, "mlflow", 1, p50=4.0),
        _summary(BATCH, 16, "pf", 50),
        _summary(BATCH, 16, "mlflow", 10),
    ]
    cold = {"logreg": {"petalflow": [1.0, 2.0, 9.0], "mlflow": [6.0, 7.0, 8.0]}}
    costs = {"logreg": [0.95, 0.9, 0.8]}
    on = _latency("pf", [1] * 98 + [6, 25])  # p99 6 ms, max 25 ms
    off = _latency("pf_nolog", [1] * 98 + [4, 7])  # p99 4 ms
    batch_costs = {"logreg": [0.9, 0.88, 0.7, 0.87]}  # median 0.875
    found = goals(
        summaries, cold, costs, [on, off], conns=16, latency_conns=8, batch_costs=batch_costs
    )
    logreg = {g.name: g for g in found if g.model == "logreg"}
    expect = {
        "/predict req/s vs mlflow, 16 conns": (25.0, "PASS"),
        "/predict req/s vs FastAPI floor, 16 conns": (0.85, "PASS"),
        "/predict p50 vs mlflow's, 1 conn": (0.05, "PASS"),
        "1,000-row batch rows/s vs mlflow, 16 conns": (5.0, "PASS"),
        "cold start vs mlflow's (median)": (2 / 7, "PASS"),
        "prediction log + metrics cost, 16 conns": (10.0, "PASS"),
        "prediction log + metrics cost, columnar 1,000-row batches, 16 conns": (12.5, "PASS"),
        "max latency, log on, 8 conns": (25.0, "PASS"),
        "p99 log on / p99 log off, 8 conns": (1.5, "PASS"),
    }
    assert logreg.keys() == expect.keys()
    for name, (value, verdict) in expect.items():
        assert logreg[name].value == pytest.approx(value), name
        assert logreg[name].verdict == verdict, name  # every target is inclusive
    assert {g.verdict for g in found if g.model == "rf"} == {"n/a"}


def test_goals_fail_beyond_the_target_and_render() -> None:
    over = Goal("max latency, log on, 8 conns", "rf", "≤", 25, 25.01, " ms")
    under = Goal("/predict req/s vs mlflow, 16 conns", "rf", "≥", 25, 24.99)
    assert (over.verdict, under.verdict) == ("FAIL", "FAIL")
    assert goals_table([over, under])[2:] == [
        "| max latency, log on, 8 conns | rf | ≤ 25 ms | 25.01 ms | FAIL |",
        "| /predict req/s vs mlflow, 16 conns | rf | ≥ 25x | 24.99x | FAIL |",
    ]


def test_no_other_file_defines_a_target() -> None:
    for path in (ROOT / "bench").glob("*.py"):
        if path.name != "goals.py":
            assert "Goal(" not in path.read_text(), path
    assert Path(ROOT / "bench" / "goals.py").is_file()


def test_penguin_goals_compare_the_penguins_cells_only() -> None:
    def cell(model: str, key: str, rps: float) -> Summary:
        return Summary(Cell(model, SINGLE, 16, key, "/x", "body"), rps, 1.0, 2.0, 0, 3)

    summaries = [
        cell("penguins-logreg", "pf", 1500),
        cell("penguins-logreg", "mlflow", 100),  # 15x: the target is inclusive
        cell("logreg", "pf", 1),  # Iris's cells of the same model do not count
        cell("logreg", "mlflow", 100),
        cell("penguins-rf", "pf", 1000),
        cell("penguins-rf", "mlflow", 100),  # 10x
    ]
    found = {g.model: g for g in penguin_goals(summaries, conns=16)}
    assert found["logreg"].name == "penguins /predict req/s vs mlflow, 16 conns"
    assert (found["logreg"].value, found["logreg"].verdict) == (15.0, "PASS")
    assert (found["rf"].value, found["rf"].verdict) == (10.0, "FAIL")
    assert penguin_goals(summaries[:4], conns=16)[1].verdict == "n/a"


def test_issue_13_targets() -> None:
    (penguins,) = PENGUIN_TARGETS.values()
    assert (penguins.op, penguins.value, penguins.unit) == ("≥", 15, "x")
    values = {key: (t.op, t.value, t.unit) for key, t in SCALE_TARGETS.items()}
    assert values == {
        "train_time": ("≤", 1.5, "x"),
        "peak_rss": ("≤", 2.5, "x"),
        "drift_ms": ("≤", 250, " ms"),
    }
    found = scale_goals(1.5, 2.51, 250.0, 100_000)
    assert [g.verdict for g in found] == ["PASS", "FAIL", "PASS"]
    assert found[2].name == "drift check over a 100,000-row window"


def test_issue_15_targets_and_their_figures() -> None:
    values = {key: (t.op, t.value, t.unit) for key, t in LIFECYCLE_TARGETS.items()}
    assert values == {"shadow": ("≥", 0.7, "x"), "reload_p99": ("≤", 3, "x")}
    summaries = [_summary(SINGLE, 16, "pf", 5000), _summary(SINGLE, 16, "pf_shadow", 3500)]
    steady = _latency("pf", [1] * 98 + [4, 9]).result  # p99 4 ms
    during = _latency("pf", [1] * 97 + [12, 12, 30]).result  # p99 12 ms
    found = lifecycle_goals(summaries, [ReloadRun("logreg", 8, steady, during, 7)])
    logreg = {g.name: (g.value, g.verdict) for g in found if g.model == "logreg"}
    assert logreg == {
        "/predict req/s with a shadow (SHADOW_SAMPLE=1) vs without, 16 conns": (0.7, "PASS"),
        "/predict p99 during reloads / steady p99, 8 conns": (3.0, "PASS"),
    }
    assert {g.verdict for g in found if g.model == "rf"} == {"n/a"}
