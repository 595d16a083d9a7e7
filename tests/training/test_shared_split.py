"""The test split promote rebuilds: the same data, seed and test size, or refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from petalflow.__main__ import main as petalflow_main
from petalflow.training import shared_split
from tests.conftest import train_into

NAME = "table-clf"


@pytest.mark.parametrize(
    ("key", "typed", "written"),
    [
        ("test_size", "0.20", "0.2"),  # `mlflow run -P test_size=0.20` logs the text typed
        ("test_size", "2e-1", "0.2"),
        ("seed", "042", "42"),
        ("seed", "x", "x"),  # unparsable: compared as logged
        ("dataset", "iris", "iris"),
    ],
)
def test_split_params_compare_as_train_py_writes_them(key: str, typed: str, written: str) -> None:
    assert shared_split._canonical(key, typed) == written


def test_promote_finds_the_data_of_a_path_spelled_two_ways(
    tmp_path: Path, user_table: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The champion trained with the contract's relative path, the challenger (under
    # `mlflow run`, which runs in the project folder) with its absolute one: the same
    # data (sha256), seed and test size, so a fair comparison; refused before.
    monkeypatch.chdir(user_table.parent)
    for folder, alias, dataset in (
        ("v1", "champion", user_table.name),
        ("v2", "challenger", str(user_table)),
    ):
        train_into(
            tmp_path / folder, "--dataset", dataset, "--register-model", NAME, "--alias", alias
        )
    monkeypatch.chdir(tmp_path)  # the relative path no longer resolves: the other one does
    assert petalflow_main(["promote", "--model-name", NAME]) == 0  # a tie promotes
    tags = MlflowClient(tracking_uri).get_model_version(NAME, "2").tags
    assert set(json.loads(tags["promotion.scores"])) == {"test_split"}


def test_promote_refuses_data_changed_since_naming_the_rows_not_the_folder(
    tmp_path: Path,
    user_table: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both versions trained on the contract's CSV; a row is deleted from it since: the
    split cannot be rebuilt. The message says the rows changed (the contract did not),
    and what to do about that, not where to run promote."""
    for folder, alias in (("v1", "champion"), ("v2", "challenger")):
        train_into(
            tmp_path / folder,
            "--dataset",
            str(user_table),
            "--register-model",
            NAME,
            "--alias",
            alias,
        )
    csv = next(user_table.parent.glob("*.csv"))
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:1] + lines[2:]))
    assert petalflow_main(["promote", "--model-name", NAME]) == 2
    err = capsys.readouterr().err
    assert (
        f"cannot rebuild the test split: the rows {str(user_table)!r} loads (for a contract: "
        "from its CSV) are not the rows both versions were trained on (another sha256); "
        "restore the data they were trained on, or retrain both on today's"
    ) in err
    assert "run promote in the folder" not in err


def test_promote_of_a_challenger_from_another_data_set_names_both(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the digests alone told a user nothing: "dataset_sha256 '4dc6...' vs '54bf...'"
    train_into(tmp_path / "v1", "--register-model", NAME, "--alias", "champion")
    train_into(
        tmp_path / "v2", "--dataset", "wine", "--register-model", NAME, "--alias", "challenger"
    )
    assert petalflow_main(["promote", "--model-name", NAME]) == 2
    error = capsys.readouterr().err
    assert "(challenger vs champion: dataset 'wine' vs 'iris', dataset_sha256 '" in error
    assert (
        "train the challenger on the champion's data set (--dataset iris) with --seed 42" in error
    )
    aliases = MlflowClient(tracking_uri).get_registered_model(NAME).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
