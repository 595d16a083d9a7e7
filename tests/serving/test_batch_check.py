"""The vectorised batch check: bounds, finiteness, nulls and integral values."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.serving.batch_check import Columns
from petalflow.serving.request_models import build_request_models


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


MIXED = ModelContract(
    dataset="mixed",
    features=[
        {"name": "plan", "type": "category", "categories": ["basic", "pro"], "nullable": True},
        {"name": "active", "type": "bool"},
        {"name": "seats", "type": "int", "ge": 1, "le": 50},
        {"name": "size", "type": "float", "gt": 0, "nullable": True},
        {"name": "tier", "type": "category", "categories": ["1", "2"]},
    ],
    target="t",
    classes=["x", "y"],
)
MIXED_MODELS = build_request_models(MIXED)
VALID = {"plan": "pro", "active": True, "seats": 3, "size": 2.5, "tier": "2"}
CANDIDATES: dict[str, list[Any]] = {
    "plan": ["basic", "pro", None, "gold", 1, True, ["pro"]],
    "active": [True, False, None, 1, 0, "true", 1.0],
    "seats": [1, 50, 3.0, 3.5, 0, 51, True, None, "3", 10**400],
    "size": [2.5, 1, None, 0, -1.0, 1e308, False, "2"],
    "tier": ["1", "2", 1, 2, None, "3"],
}


def _pydantic_rows(records: list[Any]) -> np.ndarray | None:
    try:
        batch: Any = MIXED_MODELS.batch.model_validate({"instances": records})
    except ValidationError:
        return None
    return MIXED_MODELS.rows_of(batch.instances)


def _mixed_record(rng: random.Random) -> dict[str, Any]:
    record = dict(VALID)
    for name in rng.sample(list(CANDIDATES), rng.randint(0, 2)):
        record[name] = rng.choice(CANDIDATES[name])
    if rng.random() < 0.1:
        record.pop(rng.choice(list(record)))
    if rng.random() < 0.05:
        record["extra"] = 1
    return record


@pytest.mark.parametrize("seed", range(300))
def test_fast_rows_of_a_mixed_contract_never_accepts_more_than_pydantic(seed: int) -> None:
    rng = random.Random(seed)
    records = [_mixed_record(rng) for _ in range(rng.randint(1, 4))]
    fast, slow = MIXED_MODELS.fast_rows(records), _pydantic_rows(records)
    if slow is None:
        assert fast is None
    elif fast is not None:
        assert np.array_equal(fast, slow, equal_nan=True)


def test_fast_rows_of_a_mixed_contract_encodes_categories_bools_and_nulls() -> None:
    records = [VALID, {"plan": None, "active": False, "seats": 50, "size": None, "tier": "1"}]
    rows = MIXED_MODELS.fast_rows(records)
    assert rows is not None
    assert rows[0].tolist() == [1.0, 1.0, 3.0, 2.5, 1.0]
    assert np.isnan(rows[1, 0]) and np.isnan(rows[1, 3])
    assert rows[1, [1, 2, 4]].tolist() == [0.0, 50.0, 0.0]


@pytest.mark.parametrize(
    ("change", "taken"),
    [
        ({"seats": 3.0}, True),  # integral: an int feature takes it
        ({"seats": 3.5}, False),
        ({"tier": 2}, False),  # a category's value is text
        ({"active": 1}, False),
        ({"size": True}, False),
        ({"size": 0}, False),  # gt 0
        ({"tier": None}, False),  # not nullable
    ],
)
def test_fast_rows_of_a_mixed_contract_applies_each_rule(
    change: dict[str, Any], taken: bool
) -> None:
    rows = MIXED_MODELS.fast_rows([VALID, {**VALID, **change}])
    assert (rows is not None) is taken
    assert (_pydantic_rows([VALID, {**VALID, **change}]) is not None) is taken
