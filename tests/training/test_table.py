"""The table against its contract: every broken rule exits 2 naming the column, the rule,
the count and the first CSV lines, and nothing is written (no artifacts, no MLflow run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import train
from petalflow.core.contract import FeatureSpec
from petalflow.core.errors import TableError
from petalflow.training.table import Rows, typed_table
from tests.training.conftest import contract_document, write_contract


def _edit_csv(path: Path, change: Callable[[pd.DataFrame], None]) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


def _set(column: str, rows: list[int], value: str) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        frame.loc[rows, column] = value

    return change


# (edit, expected words in the one error line); CSV line = row + 2 (the header is line 1).
TABLE_CASES: dict[str, tuple[Callable[[pd.DataFrame], None], list[str]]] = {
    "missing column": (
        lambda f: f.drop(columns=["plan"], inplace=True),
        ["missing column(s) ['plan']"],
    ),
    "out of bounds": (
        _set("tenure months", [0, 5, 6, 7, 8, 9, 30], "500"),
        [
            "'tenure months'",
            "7 value(s) out of bounds (must be <= 100)",
            "lines 2, 7, 8, 9, 10, ...",
        ],
    ),
    "unknown category": (
        _set("plan", [4], "gold"),
        ["'plan'", "1 value(s) not a known category (allowed: basic, plus, pro)", "line 6)"],
    ),
    "null where not nullable": (
        _set("größe", [1, 2], ""),
        ["'größe'", "2 value(s) missing (the feature is not nullable", "lines 3, 4)"],
    ),
    "text in an int column": (
        _set("tenure months", [9], "twelve"),
        ["'tenure months'", "1 value(s) not an integer", "line 11)"],
    ),
    "only a header": (
        lambda f: f.drop(index=f.index, inplace=True),
        ["data.csv: no data rows (only a header); add rows"],
    ),
}


def _contract_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = contract_document()
    change(document)
    return document


def _feature(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["features"][index].update(values)


CONTRACT_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "unknown type": (_feature(1, type="decimal"), ["features[1] ('größe').type", "'float'"]),
    "bounds on a category": (
        _feature(2, ge=0),
        ["features[2] ('plan')", "ge: bounds apply to float and int features, not category"],
    ),
    "target among features": (
        lambda d: d["features"].append({"name": "level", "type": "category"}),
        ["features: the target 'level' cannot also be a features column"],
    ),
    "duplicate names": (
        _feature(3, name="plan"),
        ["duplicate column names ['plan']"],
    ),
    "missing source": (
        lambda d: d.update(source="nowhere.csv"),
        ["source: no file", "nowhere.csv"],
    ),
    "no source key": (lambda d: d.pop("source"), ["source: Field required"]),
}


def _refused(contract: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Train on ``contract``; assert exit 2, one line, nothing written; the line."""
    artifacts = tmp_path / "artifacts"
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--dataset", str(contract), "--artifacts-dir", str(artifacts)])
    assert exit_info.value.code == 2
    assert not artifacts.exists()
    assert not list(tmp_path.glob(".tmp-*"))
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument --dataset: " in error
    return error


def _no_runs(uri: str) -> bool:
    from mlflow.tracking import MlflowClient

    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists():
        return True
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return not client.search_runs(ids)


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_an_invalid_table_exits_2_naming_column_rule_count_and_lines(
    case: str, tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = write_contract(tmp_path / "table")
    edit, words = TABLE_CASES[case]
    _edit_csv(contract.parent / "data.csv", edit)
    error = _refused(contract, tmp_path, capsys)
    for word in words:
        assert word in error
    assert _no_runs(tracking_uri)


@pytest.mark.parametrize("case", list(CONTRACT_CASES))
def test_an_invalid_contract_exits_2_naming_the_key(
    case: str, tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, words = CONTRACT_CASES[case]
    contract = write_contract(tmp_path / "table", _contract_with(change))
    error = _refused(contract, tmp_path, capsys)
    for word in words:
        assert word in error
    assert _no_runs(tracking_uri)


def test_a_contract_that_is_not_yaml_exits_2(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = write_contract(tmp_path / "table")
    contract.write_text("name: t\nfeatures: [unclosed\n")
    error = _refused(contract, tmp_path, capsys)
    assert "is not valid YAML/JSON: line 3, column 1: expected ',' or ']'" in error


def test_a_csv_column_the_contract_does_not_mention_is_refused(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _contract_with(lambda d: d.update(drop=[]))
    contract = write_contract(tmp_path / "table", document)
    assert "column(s) ['row id'] the contract does not mention" in _refused(
        contract, tmp_path, capsys
    )


def test_a_renamed_column_is_named_both_as_unknown_and_as_missing(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The contract's feature 'plan' is 'tier' in the CSV: both halves are said at once."""
    contract = write_contract(tmp_path / "table")
    csv = contract.parent / "data.csv"
    header, rest = csv.read_text(encoding="utf-8").split("\n", 1)
    csv.write_text(header.replace("plan", "tier") + "\n" + rest, encoding="utf-8")
    error = _refused(contract, tmp_path, capsys)
    assert (
        "the CSV has column(s) ['tier'] the contract does not mention; list each under "
        "features or drop; missing column(s) ['plan'] (features of the contract)"
    ) in error
    assert _no_runs(tracking_uri)


def test_a_target_the_csv_lacks_is_named_as_the_typo_it_is(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not "the CSV has column(s) ['level'] the contract does not mention": following that
    # advice would list the real target as a feature.
    contract = write_contract(tmp_path / "table", _contract_with(lambda d: d.update(target="levl")))
    error = _refused(contract, tmp_path, capsys)
    assert "target: the CSV has no column 'levl'; its columns are ['row id'" in error
    assert "does not mention" not in error


def test_typed_table_types_each_kind_and_keeps_gaps() -> None:
    frame = pd.DataFrame(
        {
            "n": ["1", "2", "3"],
            "x": ["0.5", "", "NA"],
            "c": ["a", "b", ""],
            "b": ["true", "No", "1"],
            "y": [" p ", "q", "p"],
        }
    )
    features = [
        FeatureSpec(name="n", type="int"),
        FeatureSpec(name="x", type="float", nullable=True),
        FeatureSpec(name="c", type="category", nullable=True),
        FeatureSpec(name="b", type="bool"),
    ]
    X, y = typed_table(frame, features, "y", "t.csv")
    assert X["n"].tolist() == [1.0, 2.0, 3.0]
    assert X["x"].iloc[0] == 0.5 and X["x"].iloc[1:].isna().all()
    assert X["c"].iloc[:2].tolist() == ["a", "b"] and pd.isna(X["c"].iloc[2])
    assert X["b"].tolist() == [1.0, 0.0, 1.0]
    assert y.tolist() == ["p", "q", "p"]


@pytest.mark.parametrize(
    ("feature", "cells", "rule"),
    [
        (FeatureSpec(name="v", type="int"), ["1.5", "2"], "not an integer"),
        (FeatureSpec(name="v", type="float"), ["inf", "2"], "not a number"),
        (
            FeatureSpec(name="v", type="bool"),
            ["maybe", "true"],
            "not a boolean (true/false, yes/no, 1/0; any case)",
        ),
        (FeatureSpec(name="v", type="float", gt=2), ["2", "3"], "out of bounds (must be > 2)"),
        (FeatureSpec(name="v", type="float", lt=3), ["3", "2"], "out of bounds (must be < 3)"),
        (FeatureSpec(name="v", type="float", ge=2.5), ["2", "3"], "out of bounds (must be >= 2.5)"),
    ],
)
def test_typed_table_names_the_rule_and_the_row(
    feature: FeatureSpec, cells: list[str], rule: str
) -> None:
    frame = pd.DataFrame({"v": cells, "y": ["a", "b"]})
    with pytest.raises(TableError) as caught:
        typed_table(frame, [feature], "y", "t.csv", Rows("line", 2))
    assert f"column 'v': 1 value(s) {rule}" in str(caught.value)
    assert "(line 2)" in str(caught.value)


def test_typed_table_refuses_a_missing_target_value() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0], "y": ["a", None, "b"]})
    with pytest.raises(
        TableError, match=r"column 'y': 1 value\(s\) missing in the target \(row 1\)"
    ):
        typed_table(frame, [FeatureSpec(name="v")], "y", "t", Rows("row", 0))


def test_typed_table_reads_numbers_from_numeric_frames_unchanged() -> None:
    values = np.array([0.1, 0.2, 0.30000000000000004])
    frame = pd.DataFrame({"v": values, "y": ["a", "b", "a"]})
    X, _ = typed_table(frame, [FeatureSpec(name="v")], "y", "t")
    assert X["v"].to_numpy().tobytes() == values.tobytes()
