"""The vectorised batch check: bounds, finiteness, nulls and integral values."""

from __future__ import annotations

import numpy as np

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.serving.batch_check import Columns


def test_columns_valid_checks_every_value_and_finiteness() -> None:
    columns = Columns.of(numeric_contract("d", ["a", "b"], ["x", "y"], "t", {"gt": 0}))
    assert columns.valid(np.array([[1.0, 2.0], [3.0, 4.0]])) is True
    assert columns.valid(np.array([[1.0, 2.0], [3.0, 0.0]])) is False
    assert columns.valid(np.array([[1.0, np.inf]])) is False
    assert columns.valid(np.array([[np.nan, 1.0]])) is False


def test_columns_of_bounds_arrays_follow_the_contract() -> None:
    contract = ModelContract(
        dataset="d",
        features=[{"name": "a", "gt": 0, "le": 9}, {"name": "b", "ge": -1, "lt": 2}, {"name": "c"}],
        target="t",
        classes=["x", "y"],
    )
    models = Columns.of(contract)
    assert models.features == ("a", "b", "c")
    assert models.low.tolist() == [0.0, -1.0, -np.inf]
    assert models.high.tolist() == [9.0, 2.0, np.inf]
    assert models.low_open.tolist() == [True, False, False]
    assert models.high_open.tolist() == [False, True, False]
