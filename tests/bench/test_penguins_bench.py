"""`bench/run.py --quick --datasets penguins` end to end: a penguins model (categories and
gaps) served by petalflow and `mlflow models serve`, the same penguin rows to both (the
batch agreement check included), its cells and its goal line. No timing is asserted.
Needs wrk, like tests/e2e/test_bench_smoke.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.payloads import ONE_PENGUIN, penguin_rows, write_bodies
from tests.conftest import ROOT, python_env

NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"
CELLS = [
    ("single row", 1, "petalflow /predict"),
    ("single row", 1, "mlflow /invocations"),
    ("single row", 16, "petalflow /predict"),
    ("single row", 16, "mlflow /invocations"),
    ("1,000-row batch", 16, "petalflow /invocations"),
    ("1,000-row batch", 16, "petalflow /predict/batch"),
    ("1,000-row batch", 16, "mlflow /invocations"),
]


def test_penguin_bodies_hold_table_rows_with_gaps_as_null(tmp_path: Path) -> None:
    rows = penguin_rows()
    assert len(rows) == 1000 and rows == penguin_rows()  # seeded
    assert all(list(row) == list(ONE_PENGUIN) for row in rows)
    with_gaps = [row for row in rows if None in row.values()]
    assert 0 < len(with_gaps) < 100
    assert all(isinstance(row["flipper_length_mm"], int) for row in rows if row["sex"])
    paths = write_bodies(tmp_path, penguins=True)
    assert json.loads(paths["penguins_predict"].read_text()) == ONE_PENGUIN
    records = json.loads(paths["penguins_records_1000"].read_text())["dataframe_records"]
    instances = json.loads(paths["penguins_instances_1000"].read_text())["instances"]
    assert records == instances == rows
    columnar = json.loads(paths["penguins_columns_1000"].read_text())
    assert [dict(zip(columnar["columns"], r, strict=True)) for r in columnar["data"]] == rows
    assert "predict" in paths and "records_1000" in paths  # Iris's bodies unchanged


@pytest.mark.e2e
@pytest.mark.slow
def test_quick_penguins_run_measures_both_servers(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not on PATH: install it with `apt-get install wrk` (make bench does)")
    output = tmp_path / "r.md"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"]
    done = subprocess.run(
        [*command, "--datasets", "penguins", "--output", str(output)],
        cwd=tmp_path,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    report = output.read_text()
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in report.splitlines()
        if line.startswith("| penguins-logreg |")
    ]
    for test, conns, server in CELLS:
        found = [r for r in rows if r[1:4] == [test, str(conns), server]]
        assert len(found) == 1, (test, conns, server, report)
        assert re.fullmatch(NUMBER, found[0][4]) and found[0][8] == "0", found[0]
    goal = next(x for x in report.splitlines() if x.startswith("| penguins /predict req/s"))
    cells = [c.strip() for c in goal.strip("|").split("|")]
    assert cells[1:3] == ["logreg", "≥ 15x"] and re.fullmatch(NUMBER + "x", cells[3]), goal
    assert "## Latency" not in report  # Iris's sections only when Iris ran
