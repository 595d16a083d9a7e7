"""The scale benchmark (`make bench-scale`): its generated table and contract, and a whole
run on 20,000 rows whose report carries the three figures. No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import scale_data
from petalflow.training.datasets import load_raw
from petalflow.training.table import typed_table
from tests.conftest import ROOT, python_env

ROWS = 20_000


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, scale_data.Shape]:
    return scale_data.write(tmp_path_factory.mktemp("scale"), ROWS)


def test_csv_has_20_columns_and_5_percent_gaps_in_its_nullable_columns(
    written: tuple[Path, Path, scale_data.Shape],
) -> None:
    csv, _, shape = written
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert frame.shape == (ROWS, 20) == (shape.rows, shape.columns)
    assert shape.kinds == {"int": 6, "float": 6, "category": 5, "bool": 2}
    nullable = [c.name for c in scale_data.COLUMNS if c.nullable]
    others = [c.name for c in scale_data.COLUMNS if not c.nullable]
    gaps = (frame == "").to_numpy()
    share = float((frame[nullable] == "").to_numpy().mean())
    assert len(nullable) == shape.nullable == 11
    # 220,000 cells drawn at 5 %: the standard deviation of the share is 0.05 %.
    assert abs(share - scale_data.MISSING_RATE) < 0.003
    assert share == pytest.approx(shape.nullable_missing)
    assert not (frame[[*others, scale_data.TARGET]] == "").to_numpy().any()
    assert gaps[:, :19].mean() == pytest.approx(shape.missing)
    assert sorted(frame[scale_data.TARGET].unique()) == list(scale_data.CLASSES)
    assert frame[scale_data.TARGET].value_counts(normalize=True).min() > 0.2


def test_the_contract_describes_the_csv(written: tuple[Path, Path, scale_data.Shape]) -> None:
    _, contract_path, _ = written
    raw = load_raw(str(contract_path), 0)
    contract = raw.contract
    X, y = typed_table(raw.frame, contract.features, contract.target, raw.source, raw.rows)
    assert [f.name for f in contract.features] == [c.name for c in scale_data.COLUMNS]
    assert X.shape == (ROWS, 19) and len(y) == ROWS
    for feature in contract.features:
        if feature.type in ("int", "float"):
            values = X[feature.name].dropna()
            assert feature.ge is not None and feature.le is not None
            assert feature.ge <= values.min() and values.max() <= feature.le
        assert X[feature.name].isna().any() == feature.nullable, feature.name


def test_the_same_seed_writes_the_same_csv(tmp_path: Path) -> None:
    first, _, _ = scale_data.write(tmp_path / "a", 2000, seed=3)
    again, _, _ = scale_data.write(tmp_path / "b", 2000, seed=3)
    other, _, _ = scale_data.write(tmp_path / "c", 2000, seed=4)
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()


FIGURES = {
    "training wall time vs pandas + scikit-learn by hand": r"[0-9]+\.[0-9]{2}x",
    "training peak RSS vs the DataFrame's memory": r"[0-9]+\.[0-9]{2}x",
    "drift check over a 5,000-row window": r"[0-9]+\.[0-9]{2} ms",
}


@pytest.mark.e2e
@pytest.mark.slow
def test_a_small_scale_run_reports_the_three_figures(tmp_path: Path) -> None:
    output = tmp_path / "scale.md"
    script = str(ROOT / "bench" / "scale.py")
    done = subprocess.run(
        [sys.executable, script, "--rows", str(ROWS), "--window", "5000", "--output", str(output)],
        cwd=tmp_path,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    report = output.read_text()
    assert report in done.stdout
    for goal, figure in FIGURES.items():
        line = next((x for x in report.splitlines() if x.startswith(f"| {goal} | logreg |")), "")
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 5, (goal, report)
        assert re.fullmatch(figure, cells[3]), line
        assert cells[4] in ("PASS", "FAIL"), line
    assert f"{ROWS:,} rows x 20 columns" in report
    assert "each by its type" in report  # drift_report checked every feature by its type
    rows = [x for x in report.splitlines() if x.startswith(("| petalflow: ", "| baseline: "))]
    assert len(rows) == 2, report
    for row in rows:
        wall, rss = (float(c.strip().replace(",", "")) for c in row.strip("|").split("|")[1:3])
        assert wall > 0 and rss > 50, row
    assert not list(tmp_path.glob("mlflow.db")) and not (tmp_path / "mlruns").exists()
    assert np.isfinite(float(re.search(r"median ([0-9.]+) ms", report).group(1)))  # type: ignore[union-attr]
