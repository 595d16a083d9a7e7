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
