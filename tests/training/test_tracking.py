"""The tracking helpers: what a failure to move an alias tells the user."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from petalflow.core.errors import TrackingError
from petalflow.training.tracking import move_alias


class _Refusing:
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        raise MlflowException("the store is read-only")


def test_move_alias_failure_says_what_is_published_and_how_to_finish() -> None:
    registered = {"name": "iris-classifier", "alias": "champion", "version": 7}
    with pytest.raises(TrackingError) as raised:
        move_alias(_Refusing(), registered)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "could not point iris-classifier@champion at version 7: the store is read-only; "
        "the artifacts and version 7 are published: point the alias with "
        "MlflowClient().set_registered_model_alias('iris-classifier', 'champion', '7'), "
        "or retrain"
    )


def test_a_deleted_experiment_is_named_with_the_fix(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from petalflow.training.tracking import training_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.delete_experiment(client.create_experiment("old"))
    expected = (
        r"experiment 'old' is deleted .*; restore it \(mlflow experiments restore "
        r"--experiment-id \d+\) or name another with --experiment-name"
    )
    with pytest.raises(TrackingError, match=expected), training_run(client, "old", uri, "r"):
        pass
    ids = [e.experiment_id for e in client.search_experiments(view_type=3)]
    assert client.search_runs(ids, run_view_type=3) == []  # no run was started
