"""--dataset: every built-in data set and a user's CSV train, reproducibly; Iris is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from petalflow.core.errors import DataContractError
from petalflow.training import datasets
from petalflow.training.data import load_dataset, prepare
from tests.conftest import train_into
from tests.training.conftest import GAPS, write_contract

GOLDEN = Path(__file__).parent / "golden"
# Each built-in data set, trained once per session; synthetic's AND rule needs the forest.
BUILT_IN_ARGS = {
    "wine": (),
    "breast_cancer": (),
    "penguins": (),
    "synthetic": ("--model", "rf", "--n-estimators", "30"),
}
MIN_ACCURACY = {"wine": 0.85, "breast_cancer": 0.85, "penguins": 0.85, "synthetic": 0.9}
# Byte-identical across runs (params.json differs only by the folder it names).
REPRODUCIBLE = (
    "model.joblib",
    "metrics.json",
    "confusion_matrix.json",
    "reference_stats.json",
    "contract.json",
)


@pytest.fixture(scope="session")
def built_in(tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str) -> dict[str, Path]:
    """Artifacts of each non-Iris built-in data set (read-only)."""
    root = tmp_path_factory.mktemp("built_in")
    return {
        name: train_into(root / name, "--dataset", name, *args)
        for name, args in BUILT_IN_ARGS.items()
    }


@pytest.mark.parametrize("name", list(BUILT_IN_ARGS))
def test_each_built_in_data_set_trains_and_writes_its_contract(
    built_in: dict[str, Path], name: str
) -> None:
    folder = built_in[name]
    scores = json.loads((folder / "metrics.json").read_text())
    assert scores["accuracy"] >= MIN_ACCURACY[name]
    contract = json.loads((folder / "contract.json").read_text())
    info = json.loads((folder / "model_info.json").read_text())
    assert contract["dataset"] == name
    assert info["feature_names"] == [f["name"] for f in contract["features"]]
    assert info["class_names"] == contract["classes"]


def test_penguins_contract_types_categories_and_gaps(built_in: dict[str, Path]) -> None:
    contract = json.loads((built_in["penguins"] / "contract.json").read_text())
    features = {f["name"]: f for f in contract["features"]}
    assert set(features) == {
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    }
    assert features["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert features["sex"]["nullable"] and features["bill_length_mm"]["nullable"]
    assert contract["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    # The table's first and fourth penguins (Torgersen, male; Torgersen, nothing measured),
    # encoded: island and sex as their category index, gaps as null.
    rows = contract["verification_rows"]
    assert len(rows) == 344
    assert rows[0] == [2.0, 39.1, 18.7, 181.0, 3750.0, 1.0]
    assert rows[3] == [2.0, None, None, None, None, None]


def test_breast_cancer_reports_the_positive_class_scores(built_in: dict[str, Path]) -> None:
    folder = built_in["breast_cancer"]
    contract = json.loads((folder / "contract.json").read_text())
    assert contract["classes"] == ["benign", "malignant"]
    assert contract["positive_class"] == "malignant"
    dataset = prepare("breast_cancer", 0.2, 42)
    model = joblib.load(folder / "model.joblib")
    truth = dataset.split.y_test == "malignant"
    score = model.predict_proba(dataset.split.X_test)[:, 1]
    scores = json.loads((folder / "metrics.json").read_text())
    assert scores["roc_auc"] == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
    assert scores["average_precision"] == pytest.approx(
        average_precision_score(truth, score), abs=1e-12
    )
    assert len(dataset.y) == len(load_breast_cancer().target)


def test_synthetic_follows_the_rule() -> None:
    frame = datasets.synthetic_frame(seed=3)
    assert len(frame) == 1000
    expected = ((frame.feature1 > 50) & (frame.feature2 > 0)).astype(int)
    assert frame.label.tolist() == expected.tolist()
    assert frame.feature1.between(0, 100).all() and frame.feature2.between(-50, 50).all()
    assert not frame.equals(datasets.synthetic_frame(seed=4))


def test_iris_artifacts_are_the_ones_from_before_data_contracts(trained: Path) -> None:
    """The counts byte for byte; the scores and probabilities to 1e-12: the solver's BLAS
    picks its kernels by CPU (AVX-512 or not), which moves the last bits of a float
    between machines (log loss 0.17397259306520418 on one, ...438 on another), while two
    trainings on one machine stay byte-identical (test_run)."""
    name = "confusion_matrix.json"
    assert (trained / name).read_bytes() == (GOLDEN / f"iris_logreg_{name}").read_bytes()
    scores = json.loads((trained / "metrics.json").read_text())
    golden = json.loads((GOLDEN / "iris_logreg_metrics.json").read_text())
    assert list(scores) == list(golden)
    assert scores == pytest.approx(golden, rel=0, abs=1e-12)
    X, _ = load_dataset()
    proba = joblib.load(trained / "model.joblib").predict_proba(X)
    expected = np.array(json.loads((GOLDEN / "iris_logreg_proba.json").read_text()))
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_a_users_csv_trains_reproducibly(tmp_path: Path, model: str) -> None:
    contract = write_contract(tmp_path / "table")
    args = ("--dataset", str(contract), "--model", model, "--n-estimators", "20")
    first = train_into(tmp_path / "a", *args)
    second = train_into(tmp_path / "b", *args)
    for name in REPRODUCIBLE:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    params = [json.loads((d / "params.json").read_text()) for d in (first, second)]
    assert {**params[0], "artifacts_dir": str(second)} == params[1]
    assert params[0]["dataset"] == str(contract)
    served = json.loads((first / "contract.json").read_text())
    assert [f["name"] for f in served["features"]] == [
        "tenure months",
        "größe",
        "plan",
        "active",
        "score",
    ]
    assert served["classes"] == ["high", "low", "mid"]
    frame = pd.read_csv(contract.parent / "data.csv")
    assert frame.loc[list(GAPS), "score"].isna().all()
    fitted = joblib.load(first / "model.joblib")
    X = frame.drop(columns=["row id", "level"]).assign(active=frame.active.astype(float))
    assert accuracy_score(frame.level, fitted.predict(X)) >= 0.8


def test_an_unknown_data_set_name_is_refused() -> None:
    with pytest.raises(DataContractError, match=r"'tulips' is neither a built-in"):
        datasets.load_raw("tulips", 0)


def test_a_csv_given_as_data_set_is_refused_with_the_command_that_writes_its_contract() -> None:
    expected = (
        r"'data/t\.csv' is neither .*; write one for it with `python -m petalflow contract "
        r"infer data/t\.csv --target COLUMN --output data/t\.yaml`"
    )
    with pytest.raises(DataContractError, match=expected):
        datasets.load_raw("data/t.csv", 0)


@pytest.mark.parametrize(
    ("header", "repeated"),
    [("a,a,y", "'a'"), ("\ufeffa,b,a,b,y", "'a', 'b'"), ('"a","a",y', "'a'")],
)
def test_read_csv_refuses_a_header_naming_a_column_twice(
    tmp_path: Path, header: str, repeated: str
) -> None:
    # Both parsers would rename the second one 'a.1', a column the file does not have.
    path = tmp_path / "t.csv"
    row = ",".join(["1"] * (header.count(",") + 1))
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(DataContractError, match=f"its header names {repeated} more than once"):
        datasets.read_csv(path)


def test_read_csv_reads_a_header_of_distinct_names_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\ufeffa,b,y\n1,2,x\n", encoding="utf-8")
    assert list(datasets.read_csv(path).columns) == ["a", "b", "y"]
