"""`bench/run.py --quick` end to end: every server starts, wrk and the latency client drive
it (2 s latency runs), the tables are whole.

No timing goal is asserted here: figures depend on the machine. Needs wrk
(`apt-get install wrk`; `make bench` and CI install it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, python_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"
MEASURED = [
    ("single row", 1, "petalflow /predict"),
    ("single row", 1, "mlflow /invocations"),
    ("single row", 1, "FastAPI floor /predict"),
    ("single row", 16, "petalflow /predict"),
    ("single row", 16, "petalflow, log off /predict"),
    ("single row", 16, "petalflow with a shadow /predict"),
    ("single row", 16, "mlflow /invocations"),
    ("single row", 16, "FastAPI floor /predict"),
    ("1,000-row batch", 16, "petalflow /invocations"),
    ("1,000-row batch", 16, "petalflow /predict/batch"),
    ("1,000-row batch", 16, "petalflow, columnar /predict/batch"),
    ("1,000-row batch", 16, "mlflow /invocations"),
]
GOALS = [
    "/predict req/s vs mlflow, 16 conns",
    "/predict req/s vs FastAPI floor, 16 conns",
    "/predict p50 vs mlflow's, 1 conn",
    "1,000-row batch rows/s vs mlflow, 16 conns",
    "cold start vs mlflow's (median)",
    "prediction log + metrics cost, 16 conns",
    "prediction log + metrics cost, columnar 1,000-row batches, 16 conns",
    "max latency, log on, 8 conns",
    "p99 log on / p99 log off, 8 conns",
    "/predict req/s with a shadow (SHADOW_SAMPLE=1) vs without, 16 conns",
    "/predict p99 during reloads / steady p99, 8 conns",
]
LATENCY = ["petalflow /predict", "petalflow, log off /predict", "FastAPI floor /predict"]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not on PATH: install it with `apt-get install wrk` (make bench does)")
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--output", str(out / "r.md")],
        cwd=out,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert list((out / "results").glob("*/logreg-*-round1.txt")), "raw wrk outputs missing"
    raw_latency = sorted(p.name for p in (out / "results").glob("*/logreg-*-latency-c8.json"))
    assert raw_latency == [f"logreg-{k}-latency-c8.json" for k in ("floor", "pf", "pf_nolog")]
    text = (out / "r.md").read_text()
    assert text in done.stdout  # the table is printed too
    return text


def test_every_measurement_row_has_figures(report: str) -> None:
    rows = [_cells(line) for line in report.splitlines() if line.startswith("| logreg |")]
    for test, conns, server in MEASURED:
        found = [r for r in rows if r[1:4] == [test, str(conns), server]]
        assert len(found) == 1, (test, conns, server, report)
        req_s, rows_s, p50, p99, errors = found[0][4:9]
        for figure in (req_s, rows_s, p50, p99):
            assert re.fullmatch(NUMBER, figure), (server, figure)
        assert float(req_s.replace(",", "")) > 0, (server, req_s)
        assert errors == "0", (server, errors)
        if server.startswith("petalflow"):
            assert re.fullmatch(NUMBER + "x", found[0][9]), found[0]


def test_goals_and_cold_start_are_reported(report: str) -> None:
    for goal in GOALS:
        line = next((x for x in report.splitlines() if x.startswith(f"| {goal} | logreg |")), None)
        assert line is not None, (goal, report)
        measured, verdict = _cells(line)[3:5]
        assert re.fullmatch(NUMBER + "(x|%| ms)", measured.lstrip("-")), line
        assert verdict in ("PASS", "FAIL"), line
    cold_section = report.split("## Cold start", 1)[1]
    cold = next(x for x in cold_section.splitlines() if x.startswith("| logreg | "))
    assert all(re.fullmatch(NUMBER, c) for c in _cells(cold)[1:5]), cold


def test_latency_client_measures_every_server(report: str) -> None:
    section = report.split("## Latency (bench/latency.py, 8 connections, 2 s per server)", 1)[1]
    rows = [_cells(x) for x in section.split("\n## ", 1)[0].splitlines() if x.startswith("| ")]
    for server in LATENCY:
        found = [r for r in rows if r[:3] == ["logreg", "8", server]]
        assert len(found) == 1, (server, section)
        requests, rps, p50, p99, top, covered, errors = found[0][3:]
        for figure in (requests, rps, p50, p99, top):
            assert re.fullmatch(NUMBER, figure), (server, figure)
        assert int(requests.replace(",", "")) > 100, found[0]
        assert float(p50) <= float(p99) <= float(top), found[0]
        overall, lowest = re.fullmatch(r"([01]\.[0-9]{3}) \(([01]\.[0-9]{3})\)", covered).groups()
        assert 0.5 < float(lowest) <= float(overall) <= 1, found[0]  # times add up to the run
        assert errors == "0", found[0]
    goal = next(x for x in report.splitlines() if x.startswith("| max latency, log on"))
    pf = next(r for r in rows if r[2] == "petalflow /predict")
    assert _cells(goal)[3] == f"{float(pf[7]):.2f} ms", (goal, pf)


@pytest.mark.parametrize(
    ("test", "pairs", "goal"),
    [
        ("single row, `/predict`", "2 x 2 s", "prediction log + metrics cost, 16 conns"),
        (
            "1,000-row batch, columnar",
            "1 x 2 s",  # --quick: half the single-row pairs
            "prediction log + metrics cost, columnar 1,000-row batches, 16 conns",
        ),
    ],
)
def test_logging_cost_comes_from_paired_rounds(
    report: str, test: str, pairs: str, goal: str
) -> None:
    section = report.split("## Prediction log + metrics cost", 1)[1]
    rows = [_cells(x) for x in section.splitlines() if x.startswith("| logreg | ")]
    row = next(r for r in rows if r[1] == test)
    assert row[2] == pairs, row
    for spread in row[4:6]:  # middle half, whole range
        assert re.fullmatch(r"-?[0-9]+\.[0-9]% to -?[0-9]+\.[0-9]%", spread), row
    estimate = r"-?[0-9]+\.[0-9]%" if test.startswith("single") else "n/a"
    assert re.fullmatch(estimate, row[6]), row  # the interleaved cells' estimate
    median = float(row[3].rstrip("%"))
    line = next(x for x in report.splitlines() if x.startswith(f"| {goal} | logreg |"))
    assert abs(float(_cells(line)[3].rstrip("%")) - median) < 0.06, (line, row)


def test_machine_and_command_are_recorded(report: str) -> None:
    needles = ("- Date: ", "- Machine: ", "- Python ", "bench/run.py --quick", "wrk ")
    for needle in (*needles, "- Latency: ", "perf_counter_ns"):
        assert needle in report, needle


def test_reloads_happen_under_the_latency_client(report: str) -> None:
    section = report.split("## Serving lifecycle", 1)[1].split("\n## ", 1)[0]
    row = next(_cells(x) for x in section.splitlines() if x.startswith("| logreg | 8 |"))
    assert int(row[2]) >= 1, row  # at least one switch answered during the run
    for run in row[3:5]:
        p50, p99, top = (float(v) for v in run.split(" / "))
        assert 0 < p50 <= p99 <= top, row
    assert re.fullmatch(NUMBER + "x", row[5]), row
