"""Request models from the contract; the vectorised batch check accepts what they accept."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from petalflow.core.contract import numeric_contract
from petalflow.serving.request_models import build_request_models
from petalflow.training.data import FEATURE_NAMES

CONTRACT = numeric_contract(
    "iris", FEATURE_NAMES, ["setosa", "versicolor", "virginica"], "species", {"gt": 0, "le": 100}
)
MODELS = build_request_models(CONTRACT)
PredictRequest = MODELS.row


def fast_rows(records: Any, features: Any) -> np.ndarray | None:
    assert tuple(features) == MODELS.features
    return MODELS.fast_rows(records)


ODD_VALUES: list[Any] = [
    0,
    -1,
    100,
    100.0000001,
    1e-300,
    5,
    5.1,
    True,
    False,
    None,
    "5.1",
    [1.0],
    {"v": 1},
    float("nan"),
    float("inf"),
    10**400,
]


def _pydantic_rows(records: list[Any]) -> np.ndarray | None:
    try:
        items = [PredictRequest.model_validate(r) for r in records]
    except ValidationError:
        return None
    return np.array([[getattr(i, f) for f in FEATURE_NAMES] for i in items])


def _record(rng: random.Random) -> Any:
    record: dict[str, Any] = {f: round(rng.uniform(0.1, 8), 1) for f in FEATURE_NAMES}
    roll = rng.random()
    if roll < 0.15:
        record[rng.choice(FEATURE_NAMES)] = rng.choice(ODD_VALUES)
    elif roll < 0.2:
        record.pop(rng.choice(FEATURE_NAMES))
    elif roll < 0.25:
        record["extra"] = 1.0
    elif roll < 0.27:
        return [1.0, 2.0, 3.0, 4.0]
    return record


@pytest.mark.parametrize("seed", range(300))
def test_fast_rows_agrees_with_predict_request(seed: int) -> None:
    rng = random.Random(seed)
    records = [_record(rng) for _ in range(rng.randint(1, 6))]
    fast, slow = fast_rows(records, FEATURE_NAMES), _pydantic_rows(records)
    if slow is None:
        assert fast is None
    else:
        # fast_rows may decline a valid batch (then pydantic decides), never accept a bad one.
        assert fast is None or np.array_equal(fast, slow)


def test_fast_rows_takes_a_plain_valid_batch() -> None:
    records = [dict(zip(FEATURE_NAMES, [5.1, 3, 1.4, 0.2], strict=True))] * 3
    rows = fast_rows(records, FEATURE_NAMES)
    assert rows is not None and rows.shape == (3, 4) and rows[0, 1] == 3.0


@pytest.mark.parametrize("records", [[], {}, "x", [[5.1, 3.5, 1.4, 0.2]]])
def test_fast_rows_declines_non_record_lists(records: Any) -> None:
    assert fast_rows(records, FEATURE_NAMES) is None


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(0, False), (1e-300, True), (100, True), (100.0000001, False), (-1, False)],
)
def test_request_model_applies_the_contract_bounds(value: float, accepted: bool) -> None:
    record = {**dict.fromkeys(FEATURE_NAMES, 1.0), "petal_width": value}
    if accepted:
        assert PredictRequest.model_validate(record).petal_width == value  # type: ignore[attr-defined]
    else:
        with pytest.raises(ValidationError, match="petal_width"):
            PredictRequest.model_validate(record)


def test_request_model_schema_documents_bounds_and_description() -> None:
    contract = numeric_contract(
        "d", ["a", "b"], ["x", "y"], "t", {"ge": -5, "lt": 7}, "a length", [[1.5, 2.5]]
    )
    schema = build_request_models(contract).row.model_json_schema()
    assert schema["properties"]["a"]["minimum"] == -5
    assert schema["properties"]["a"]["exclusiveMaximum"] == 7
    assert schema["properties"]["a"]["description"] == "a length (>= -5 and < 7)"
    assert schema["properties"]["b"]["examples"] == [2.5]
    assert schema["required"] == ["a", "b"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("bounds", "row", "inside"),
    [
        ({"gt": 0}, [0.0], False),
        ({"ge": 0}, [0.0], True),
        ({"lt": 1}, [1.0], False),
        ({"le": 1}, [1.0], True),
        ({}, [-1e300], True),
    ],
)
def test_fast_rows_respects_open_and_closed_bounds(bounds: dict, row: list, inside: bool) -> None:
    models = build_request_models(numeric_contract("d", ["a"], ["x", "y"], "t", bounds))
    rows = models.fast_rows([{"a": row[0]}])
    assert (rows is not None) is inside
