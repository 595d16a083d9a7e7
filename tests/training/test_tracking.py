"""The tracking helpers: what a failure to move an alias tells the user."""

from __future__ import annotations

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
