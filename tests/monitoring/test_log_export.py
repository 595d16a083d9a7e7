"""`python -m petalflow monitor export`: one line per predicted row, in CSV or JSON lines,
checked against the rows sent and a scikit-learn model's own predict_proba."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from petalflow.__main__ import main
from petalflow.monitoring.prediction_log import PredictionLog

CLASSES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def sent() -> tuple[np.ndarray, np.ndarray]:
    """30 Iris rows and a logistic regression's predict_proba on them."""
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    rows = X[::5]
    return rows, model.predict_proba(rows)


@pytest.fixture()
def logged(tmp_path: Path, sent: tuple[np.ndarray, np.ndarray]) -> Path:
    """A log of the rows as a 25-row batch then 5 single-row requests, as the server logs."""
    rows, proba = sent
    path = tmp_path / "predictions.db"
    with PredictionLog(path) as log:
        labels = [CLASSES[i] for i in proba.argmax(axis=1)]
        assert log.record("batch", "run1", rows[:25], labels[:25], CLASSES, proba[:25])
        for i in range(25, 30):
            assert log.record(f"one-{i}", "run1", rows[i : i + 1], labels[i : i + 1], CLASSES,
                              proba[i : i + 1])  # fmt: skip
    return path


def expected_ids() -> list[tuple[str, int]]:
    return [("batch", i) for i in range(25)] + [(f"one-{i}", 0) for i in range(25, 30)]


def test_export_csv_writes_every_row_with_its_features_label_and_probabilities(
    logged: Path, tmp_path: Path, sent: tuple[np.ndarray, np.ndarray]
) -> None:
    rows, proba = sent
    out = tmp_path / "rows.csv"
    argv = ["monitor", "export", "--prediction-log", str(logged), "--output", str(out)]
    assert main(argv) == 0
    with out.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == [
        "request_id", "row_index", "created_at", "model_version",
        "feature_0", "feature_1", "feature_2", "feature_3",
        "label", "true_label", "proba_setosa", "proba_versicolor", "proba_virginica",
    ]  # fmt: skip
    assert [(r["request_id"], int(r["row_index"])) for r in lines] == expected_ids()
    assert {r["model_version"] for r in lines} == {"run1"}
    features = [[float(r[f"feature_{j}"]) for j in range(4)] for r in lines]
    assert features == rows.tolist()  # exact: a float's repr round-trips
    scores = [[float(r[f"proba_{c}"]) for c in CLASSES] for r in lines]
    assert scores == proba.tolist()
    assert [r["label"] for r in lines] == [CLASSES[i] for i in proba.argmax(axis=1)]
    assert {r["true_label"] for r in lines} == {""}  # no feedback: an empty cell


def test_export_writes_each_rows_feedback_label(logged: Path, tmp_path: Path) -> None:
    with PredictionLog(logged) as log:
        log.add_feedback("batch:3", "virginica")
        log.add_feedback("one-27", "setosa")
    out = tmp_path / "rows.jsonl"
    argv = ["monitor", "export", "--prediction-log", str(logged), "--format", "jsonl"]
    assert main([*argv, "--output", str(out)]) == 0
    truth = {
        (r["request_id"], r["row_index"]): r["true_label"]
        for r in map(json.loads, out.read_text().splitlines())
    }
    labelled = {("batch", 3): "virginica", ("one-27", 0): "setosa"}
    assert truth == {key: labelled.get(key) for key in expected_ids()}


def test_export_jsonl_writes_one_object_per_row_to_stdout(
    logged: Path, sent: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    rows, proba = sent
    argv = ["monitor", "export", "--prediction-log", str(logged), "--format", "jsonl"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["request_id"], r["row_index"]) for r in lines] == expected_ids()
    assert [[r[f"feature_{j}"] for j in range(4)] for r in lines] == rows.tolist()
    assert [[r[f"proba_{c}"] for c in CLASSES] for r in lines] == proba.tolist()


def test_export_csv_refuses_rows_of_another_width_naming_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.db"
    with PredictionLog(path) as log:
        assert log.record("four", "1", [[1.0, 2, 3, 4]], ["setosa"], CLASSES, [[1, 0, 0]])
        assert log.record("two", "2", [[1.0, 2]], ["setosa"], CLASSES, [[1, 0, 0]])
    with pytest.raises(SystemExit) as exited:
        main(["monitor", "export", "--prediction-log", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "request 'two' has other columns" in err and "--format jsonl" in err
    assert main(["monitor", "export", "--prediction-log", str(path), "--format", "jsonl"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prediction-log", "{missing}"], "argument --prediction-log: no prediction log at"),
        (["--prediction-log", "{log}", "--format", "xml"], "argument --format: invalid choice"),
        (["--prediction-log", "{log}", "--output", "{missing_dir}/x.csv"], "argument --output"),
    ],
)
def test_export_usage_errors_exit_2_naming_the_flag(
    argv: list[str],
    message: str,
    logged: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {"missing": tmp_path / "none.db", "log": logged, "missing_dir": tmp_path / "no"}
    with pytest.raises(SystemExit) as exited:
        main(["monitor", "export", *(a.format(**paths) for a in argv)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
