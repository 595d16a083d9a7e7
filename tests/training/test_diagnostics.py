"""The evaluation folder, the run's name and description, against independent oracles.

Oracles: scikit-learn's own metric functions (f1_score, classification_report) applied to
frames shuffled here, and hand-built models whose importance is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.training import diagnostics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _iris_split(seed: int = 0) -> tuple[Pipeline, diagnostics.TestSplit]:
    from sklearn.model_selection import train_test_split

    from petalflow.training.data import load_dataset

    X, y = load_dataset()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y
    )
    model = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(C=0.05))])
    model.fit(X_train, y_train)
    return model, diagnostics.TestSplit(X_test, y_test, None, seed)


class FirstColumnModel:
    """Predicts 'hi' when the first column is > 0: every other column is ignored."""

    classes_ = np.array(["hi", "lo"])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.where(X.iloc[:, 0].to_numpy() > 0, "hi", "lo")


def test_permuted_rows_shuffle_one_feature_per_block_and_keep_dtypes() -> None:
    X = pd.DataFrame(
        {"a": np.arange(6.0), "b": list("uvwxyz"), "c": np.arange(6) * 10},
    )
    stacked = diagnostics.permuted_rows(X, np.random.default_rng(0), repeats=2)
    assert len(stacked) == 6 * 3 * 2
    assert list(stacked.dtypes) == list(X.dtypes)
    for block in range(6):
        rows = stacked.iloc[block * 6 : (block + 1) * 6].reset_index(drop=True)
        shuffled = X.columns[block // 2]
        for column in X.columns:
            if column == shuffled:
                assert sorted(rows[column]) == sorted(X[column])
            else:
                pd.testing.assert_series_equal(rows[column], X[column])
    assert not stacked.iloc[:6]["a"].equals(stacked.iloc[6:12]["a"])


def test_importances_are_the_mean_f1_drop_of_sklearn_on_the_shuffled_frames() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"signal": rng.normal(size=50), "noise": rng.normal(size=50)})
    y = pd.Series(np.where(X["signal"] > 0, "hi", "lo"))
    split = diagnostics.TestSplit(X, y, None, seed=5)
    found = {r["feature"]: r for r in diagnostics.importances(FirstColumnModel(), split)}
    assert found["noise"]["importance_mean"] == 0.0
    assert found["noise"]["importance_std"] == 0.0
    # The oracle: the same shuffles, scored by scikit-learn one frame at a time.
    stacked = diagnostics.permuted_rows(X, np.random.default_rng(5), diagnostics.IMPORTANCE_REPEATS)
    drops = [
        1.0
        - f1_score(
            y, FirstColumnModel().predict(stacked.iloc[i * 50 : (i + 1) * 50]), average="macro"
        )
        for i in range(diagnostics.IMPORTANCE_REPEATS)
    ]
    assert found["signal"]["importance_mean"] == pytest.approx(np.mean(drops), abs=1e-12)
    assert found["signal"]["importance_std"] == pytest.approx(np.std(drops), abs=1e-12)
    assert found["signal"]["importance_mean"] > 0.3


def test_importances_rank_largest_first() -> None:
    model, split = _iris_split()
    ranked = diagnostics.importances(model, split)
    means = [r["importance_mean"] for r in ranked]
    assert means == sorted(means, reverse=True)
    assert {r["feature"] for r in ranked} == set(split.X.columns)


def test_write_evaluation_writes_valid_pngs_and_sklearn_reports(tmp_path: Path) -> None:
    model, split = _iris_split()
    written = diagnostics.write_evaluation(model, split, tmp_path / "a")
    names = {p.name for p in written}
    assert names == {*diagnostics.PLOTS, *diagnostics.REPORTS}
    assert {p.name for p in (tmp_path / "a").iterdir()} == names
    for name in diagnostics.PLOTS:
        raw = (tmp_path / "a" / name).read_bytes()
        assert raw.startswith(PNG_MAGIC) and len(raw) > 5000, name
        with Image.open(tmp_path / "a" / name) as image:
            image.verify()
            assert image.size[0] >= 400
    predicted = model.predict(split.X)
    report = json.loads((tmp_path / "a" / "classification_report.json").read_text())
    expected = classification_report(split.y, predicted, output_dict=True, zero_division=0)
    assert report.keys() == expected.keys()
    for key in ("setosa", "versicolor", "virginica", "macro avg"):
        assert report[key] == pytest.approx(expected[key])
    text = (tmp_path / "a" / "classification_report.txt").read_text()
    assert "macro avg" in text and "virginica" in text


def test_write_evaluation_gives_the_same_bytes_twice(tmp_path: Path) -> None:
    model, split = _iris_split()
    diagnostics.write_evaluation(model, split, tmp_path / "a")
    diagnostics.write_evaluation(model, split, tmp_path / "b")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_write_evaluation_handles_a_binary_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=80), "z": rng.normal(size=80)})
    y = pd.Series(np.where(X["x"] + rng.normal(scale=0.5, size=80) > 0, "yes", "no"))
    model = LogisticRegression().fit(X, y)
    split = diagnostics.TestSplit(X, y, "yes", 0)
    diagnostics.write_evaluation(model, split, tmp_path)
    assert (tmp_path / "roc_curve.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("model", "hyperparameters", "seed", "expected"),
    [
        ("logreg", {"C": 1.0}, 42, "logreg-C1.0-seed42"),
        ("logreg", {"C": 0.5}, 7, "logreg-C0.5-seed7"),
        (
            "rf",
            {"n_estimators": 200, "max_depth": None},
            1,
            "rf-n_estimators200-max_depthnone-seed1",
        ),
    ],
)
def test_run_name_glues_model_hyperparameters_and_seed(
    model: str, hyperparameters: dict[str, object], seed: int, expected: str
) -> None:
    assert diagnostics.run_name(model, hyperparameters, seed) == expected


def test_description_names_the_data_split_and_headline_scores() -> None:
    text = diagnostics.description(
        "iris",
        (120, 30),
        4,
        "stratified, test size 0.2, seed 42",
        {"accuracy": 0.93333, "f1_macro": 0.9},
    )
    assert "iris: 150 rows, 4 features" in text
    assert "stratified, test size 0.2, seed 42: 120 training rows, 30 test rows" in text
    assert "accuracy 0.9333" in text and "f1_macro 0.9000" in text


def test_write_evaluation_reports_equal_sklearns_on_the_text(tmp_path: Path) -> None:
    model, split = _iris_split()
    diagnostics.write_evaluation(model, split, tmp_path)
    predicted = model.predict(split.X)
    kwargs = {"labels": ["setosa", "versicolor", "virginica"], "zero_division": 0}
    expected = classification_report(split.y, predicted, output_dict=True, **kwargs)
    written = json.loads((tmp_path / "classification_report.json").read_text())
    assert written == json.loads(json.dumps(expected))
    text = (tmp_path / "classification_report.txt").read_text()
    assert text == classification_report(split.y, predicted, digits=4, **kwargs)


def test_importances_predicted_in_chunks_equal_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    model, split = _iris_split()
    whole = diagnostics.importances(model, split)
    # 45 test rows x 5 repeats: one feature per call.
    monkeypatch.setattr(diagnostics, "PREDICT_ROWS", 1)
    assert diagnostics.importances(model, split) == whole
    monkeypatch.setattr(diagnostics, "PREDICT_ROWS", 2 * 45 * diagnostics.IMPORTANCE_REPEATS)
    assert diagnostics.importances(model, split) == whole


def test_importances_shuffle_at_most_max_rows_evenly_spaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, split = _iris_split()
    monkeypatch.setattr(diagnostics, "MAX_IMPORTANCE_ROWS", 9)
    picked = diagnostics.importance_rows(split)
    positions = [0, 5, 11, 16, 22, 27, 33, 38, 44]  # linspace(0, 44, 9), truncated
    pd.testing.assert_frame_equal(picked.X, split.X.iloc[positions].reset_index(drop=True))
    assert picked.y.tolist() == split.y.iloc[positions].tolist()
    # The oracle: the full computation on those rows alone.
    alone = diagnostics.TestSplit(picked.X, picked.y, None, split.seed)
    monkeypatch.setattr(diagnostics, "MAX_IMPORTANCE_ROWS", 10_000)
    expected = diagnostics.importances(model, alone)
    monkeypatch.setattr(diagnostics, "MAX_IMPORTANCE_ROWS", 9)
    assert diagnostics.importances(model, split) == expected
    assert diagnostics.importance_rows(alone) is alone
