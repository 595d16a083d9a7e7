"""Request models from the contract; the vectorised batch check accepts what they accept.

pydantic's own validation of the row model is the oracle for ``fast_rows``. A body whose
objects repeat a key is refused, the precise check running only when colons say it may.
"""

from __future__ import annotations

import operator
import random
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from petalflow.core.contract import FeatureSpec, ModelContract, numeric_contract
from petalflow.core.errors import ClientError, InvalidRequestError
from petalflow.serving import duplicate_keys
from petalflow.serving.duplicate_keys import DuplicateKeyError
from petalflow.serving.request_models import (
    build_request_models,
    parse,
    row_rules,
    validation_error,
)
from petalflow.serving.schemas import FeedbackRequest
from petalflow.training.data import FEATURE_NAMES
from tests.serving.test_duplicate_keys import ROW, never

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


def _one_feature(**bounds: float) -> ModelContract:
    return ModelContract(
        dataset="d", features=[{"name": "a", **bounds}], target="t", classes=["x", "y"]
    )


def _accepted_by_pydantic(models: Any, record: dict[str, Any]) -> bool:
    try:
        models.row.model_validate(record)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("bounds", "value", "inside"),
    [
        ({"ge": 0}, -1.0, False),
        ({"ge": 0}, -1e-300, False),
        ({"le": 1}, 1.0000001, False),
        ({"gt": 0}, 1e-300, True),
        ({"lt": 1}, 0.5, True),
        ({"lt": 1}, -1e300, True),
        ({"gt": 0}, 1e300, True),
        ({"ge": 0, "gt": 5}, 1.0, False),
        ({"ge": 0, "gt": 5}, 5.0, False),
        ({"ge": 0, "gt": 5}, 5.5, True),
        ({"ge": 5, "gt": 0}, 1.0, False),
        ({"ge": 5, "gt": 0}, 5.0, True),
        ({"ge": 5, "gt": 5}, 5.0, False),
        ({"le": 20, "lt": 10}, 15.0, False),
        ({"le": 20, "lt": 10}, 10.0, False),
        ({"le": 20, "lt": 10}, 9.5, True),
        ({"le": 10, "lt": 20}, 15.0, False),
        ({"le": 10, "lt": 20}, 10.0, True),
        ({"le": 5, "lt": 5}, 5.0, False),
        ({"gt": 0, "lt": 1}, 0.5, True),
    ],
)
def test_fast_rows_applies_the_binding_bound_like_pydantic(
    bounds: dict[str, float], value: float, inside: bool
) -> None:
    models = build_request_models(_one_feature(**bounds))
    assert _accepted_by_pydantic(models, {"a": value}) is inside
    rows = models.fast_rows([{"a": value}])
    if inside:
        assert rows is not None and rows.tolist() == [[value]]
    else:
        assert rows is None


@pytest.mark.parametrize("seed", range(40))
def test_fast_rows_agrees_with_pydantic_under_random_bounds(seed: int) -> None:
    rng = random.Random(seed)
    bounds = {k: float(rng.randint(-3, 3)) for k in ("ge", "gt", "le", "lt") if rng.random() < 0.5}
    grid = [v / 2 for v in range(-8, 9)]  # every interval of these bounds holds one, or none
    tests = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}
    if not any(all(tests[k](v, b) for k, b in bounds.items()) for v in grid):
        with pytest.raises(ValidationError, match="no value fits"):  # refused in the contract
            _one_feature(**bounds)
        return
    models = build_request_models(_one_feature(**bounds))
    for value in grid:
        rows = models.fast_rows([{"a": value}])
        assert (rows is not None) is _accepted_by_pydantic(models, {"a": value}), value


def test_fast_rows_takes_a_two_feature_batch_in_feature_order() -> None:
    models = build_request_models(numeric_contract("d", ["a", "b"], ["x", "y"], "t"))
    rows = models.fast_rows([{"b": 2.0, "a": 1}, {"a": -3.5, "b": 4}])
    assert rows is not None
    assert rows.dtype == np.float64
    assert rows.tolist() == [[1.0, 2.0], [-3.5, 4.0]]


@pytest.mark.parametrize(
    "records",
    [
        [{"a": 1.0}],
        [{"a": 1.0, "b": 2.0, "c": 3.0}],
        [{"a": 1.0, "c": 2.0}],
        [{"a": 1.0, "b": True}],
        [{"a": 1.0, "b": "2"}],
        [{"a": 1.0, "b": 2.0}, None],
        [{"a": 1.0, "b": 10**400}],
    ],
    ids=["missing", "extra", "unknown", "bool", "string", "not-a-dict", "overflow"],
)
def test_fast_rows_declines_two_feature_records_pydantic_rejects(records: list[Any]) -> None:
    models = build_request_models(numeric_contract("d", ["a", "b"], ["x", "y"], "t"))
    assert models.fast_rows(records) is None
    with pytest.raises(ValidationError):
        models.batch.model_validate({"instances": records})


def test_request_model_schema_names_and_documents_the_models() -> None:
    models = build_request_models(numeric_contract("flowers", ["a"], ["x", "y"], "t"))
    row = models.row.model_json_schema()
    assert row["title"] == "PredictRequest"
    assert row["description"] == (
        "One row of flowers. Every feature is a JSON number. Every feature is required; "
        "unknown fields are refused."
    )
    assert row["properties"]["a"]["description"] == "a"
    assert "examples" not in row["properties"]["a"]
    batch = models.batch.model_json_schema()
    assert batch["title"] == "PredictBatchRequest"
    assert batch["description"] == "Several rows; the row limit is a setting (MAX_BATCH_ROWS)."
    assert batch["required"] == ["instances"]
    assert batch["properties"]["instances"]["minItems"] == 1
    assert batch["additionalProperties"] is False


def test_batch_model_takes_one_or_more_strict_rows() -> None:
    batch = build_request_models(numeric_contract("d", ["a"], ["x", "y"], "t", {"gt": 0})).batch
    one = batch.model_validate({"instances": [{"a": 1.5}]})
    assert [row.a for row in one.instances] == [1.5]  # type: ignore[attr-defined]
    two = batch.model_validate_json(b'{"instances": [{"a": 1}, {"a": 2.5}]}')
    assert [row.a for row in two.instances] == [1.0, 2.5]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"instances": []}, "instances"),
        ({"instances": [{"a": 0}]}, "greater_than"),
        ({"instances": [{"a": "1"}]}, "float_type"),
        ({"instances": [{"a": 1.0}], "extra": 1}, "extra"),
        ({}, "missing"),
    ],
)
def test_batch_model_rejects_what_the_contract_forbids(body: dict[str, Any], match: str) -> None:
    batch = build_request_models(numeric_contract("d", ["a"], ["x", "y"], "t", {"gt": 0})).batch
    with pytest.raises(ValidationError, match=match):
        batch.model_validate(body)


def test_parse_row_returns_one_row_in_feature_order() -> None:
    row = MODELS.parse_row(
        b'{"petal_width": 0.2, "sepal_length": 5.1, "petal_length": 1, "sepal_width": 3.5}'
    )
    assert row.dtype == np.float64
    assert row.tolist() == [[5.1, 3.5, 1.0, 0.2]]


def test_rows_of_stacks_validated_rows_in_feature_order() -> None:
    items = [
        PredictRequest.model_validate(dict(zip(FEATURE_NAMES, values, strict=True)))
        for values in ([5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2])
    ]
    rows = MODELS.rows_of(items)
    assert rows.dtype == np.float64
    assert rows.tolist() == [[5.1, 3.5, 1.4, 0.2], [6.0, 3.0, 5.0, 2.0]]


def test_parse_returns_the_validated_model() -> None:
    item = parse(
        PredictRequest,
        b'{"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": 4}',
    )
    assert item.model_dump() == {
        "sepal_length": 1.0,
        "sepal_width": 2.0,
        "petal_length": 3.0,
        "petal_width": 4.0,
    }


@pytest.mark.parametrize("body", [b"{", b"", b"{'a': 1}", b"[1, 2"])
def test_parse_row_answers_400_for_malformed_json(body: bytes) -> None:
    with pytest.raises(ClientError, match=r"^body is not valid JSON: ") as caught:
        MODELS.parse_row(body)
    assert "Invalid JSON" not in caught.value.message  # the reason, not the prefix twice
    assert not isinstance(caught.value, InvalidRequestError)
    assert caught.value.status == 400
    assert caught.value.code == "malformed_json"
    assert caught.value.details == []


@pytest.mark.parametrize("body", [b"[1, 2, 3, 4]", b"5.1", b"null", b'"x"'])
def test_parse_row_answers_422_for_a_body_that_is_not_an_object(body: bytes) -> None:
    with pytest.raises(InvalidRequestError, match=r"^body must be a JSON object$") as caught:
        MODELS.parse_row(body)
    assert caught.value.status == 422
    assert caught.value.code == "validation_error"
    assert [(d["field"], d["rule"]) for d in caught.value.details] == [(None, "model_type")]


def test_parse_row_answers_422_naming_each_field_and_rule() -> None:
    body = b'{"sepal_length": "5.1", "sepal_width": 0, "petal_length": 1, "petal_width": 1, "x": 1}'
    with pytest.raises(InvalidRequestError) as caught:
        MODELS.parse_row(body)
    error = caught.value
    assert error.status == 422
    assert error.code == "validation_error"
    assert [(d["field"], d["rule"]) for d in error.details] == [
        ("sepal_length", "float_type"),
        ("sepal_width", "greater_than"),
        ("x", "extra_forbidden"),
    ]
    assert error.message == (
        'invalid request: sepal_length: Input should be a JSON number (5.1, not the string "5.1")'
        " (float_type); sepal_width: Input should be greater than 0 (greater_than); "
        "x: Extra inputs are not permitted (extra_forbidden)"
    )


@pytest.mark.parametrize(
    ("literal", "told"),
    [
        ('"5.1"', 'a JSON number (5.1, not the string "5.1")'),
        ('" 7.3 "', 'a JSON number (7.3, not the string " 7.3 ")'),
        ('"abc"', 'a JSON number, not the string "abc"'),
        ('""', 'a JSON number, not the string ""'),
        ('"NaN"', 'a JSON number, not the string "NaN"'),
        ('"1_0"', 'a JSON number, not the string "1_0"'),
        ('"١٢"', 'a JSON number, not the string "١٢"'),
        (f'"0.{"0" * 100}1"', f'a JSON number, not the string "0.{"0" * 62}…"'),
        (f'"{"x" * 100}"', f'a JSON number, not the string "{"x" * 64}…"'),
        ("null", "a JSON number, not null"),
        ("true", "a JSON number, not a boolean"),
        ("[5.1]", "a JSON number, not a list"),
        ('{"v": 5.1}', "a JSON number, not an object"),
    ],
)
def test_parse_row_says_what_a_value_that_is_not_a_number_is(literal: str, told: str) -> None:
    body = f'{{"sepal_length": {literal}, "sepal_width": 3, "petal_length": 1, "petal_width": 1}}'
    with pytest.raises(InvalidRequestError) as caught:
        MODELS.parse_row(body.encode())
    [detail] = caught.value.details
    assert (detail["field"], detail["rule"]) == ("sepal_length", "float_type")
    assert detail["message"] == f"sepal_length: Input should be {told}"


def test_parse_row_answers_422_for_a_nested_field_error() -> None:
    """A field error whose rule is model_type is not mistaken for a non-object body."""
    models = build_request_models(numeric_contract("d", ["a"], ["x", "y"], "t"))
    with pytest.raises(InvalidRequestError, match=r"^invalid request: instances\.0: ") as caught:
        parse(models.batch, b'{"instances": [5]}')
    assert [(d["field"], d["rule"]) for d in caught.value.details] == [
        ("instances.0", "model_type")
    ]


def test_validation_error_without_errors_is_a_plain_422() -> None:
    error = validation_error(ValidationError.from_exception_data("PredictRequest", []))
    assert isinstance(error, InvalidRequestError)
    assert error.message == "invalid request: "
    assert error.details == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (ROW + b', "sepal_length": 7.7}', "sepal_length"),
        (ROW + b', "sepal_length": 5.1}', "sepal_length"),  # the same value: still ambiguous
        (ROW + b', "petal_width": 0.2, "petal_width": 9}', "petal_width"),
        (b'{"petal_width": 1, ' + ROW[1:] + b"}", "petal_width"),
    ],
)
def test_parse_row_rejects_a_repeated_feature(body: bytes, field: str) -> None:
    with pytest.raises(DuplicateKeyError, match=rf"^invalid request: {field} appears") as caught:
        MODELS.parse_row(body)
    assert caught.value.status == 422
    assert caught.value.code == "duplicate_key"
    assert [(d["field"], d["rule"]) for d in caught.value.details] == [(field, "duplicate_key")]
    assert "send each key once" in caught.value.details[0]["message"]


def test_parse_row_skips_the_precise_check_for_an_ordinary_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(duplicate_keys, "repeated_keys", never)
    assert MODELS.parse_row(ROW + b"}").tolist() == [[5.1, 3.5, 1.4, 0.2]]
    assert MODELS.parse_row(ROW.replace(b": ", b" :\n ") + b"}").shape == (1, 4)


def test_parse_rejects_a_repeated_feedback_field() -> None:
    body = b'{"request_id": "a:0", "true_label": "setosa", "request_id": "b:1"}'
    with pytest.raises(DuplicateKeyError, match=r"request_id appears twice in one object"):
        parse(FeedbackRequest, body)


def test_parse_accepts_colons_inside_strings() -> None:
    item = parse(FeedbackRequest, b'{"request_id": "rid:3", "true_label": "a:b::c"}')
    assert (item.request_id, item.true_label) == ("rid:3", "a:b::c")


PENGUIN_SPECS = [  # penguins' shape, plus a boolean and a nullable category
    FeatureSpec(name="island", type="category", categories=["Biscoe", "Dream", "Torgersen"]),
    FeatureSpec(name="bill_length_mm", type="float", gt=0, nullable=True),
    FeatureSpec(name="flipper_length_mm", type="int", gt=0),
    FeatureSpec(name="banded", type="bool"),
    FeatureSpec(name="sex", type="category", categories=["female", "male"], nullable=True),
]


def test_row_rules_state_each_type_and_the_nullable_features() -> None:
    rules = row_rules(PENGUIN_SPECS)
    assert '`island` is one of "Biscoe", "Dream", "Torgersen"' in rules
    assert '`sex` is one of "female", "male"' in rules
    assert "`banded` is true or false" in rules
    assert "the others are JSON numbers inside the contract's bounds" in rules
    assert "(whole numbers: `flipper_length_mm`)" in rules
    assert (
        "Every feature is required except `bill_length_mm`, `sex`, which may be null or "
        "left out (then imputed)" in rules
    )
    assert "every feature is a json number" not in rules.lower()


def test_row_rules_of_a_numeric_contract_and_of_an_all_nullable_one() -> None:
    iris = row_rules(
        numeric_contract("iris", FEATURE_NAMES, ["a", "b"], "species", {"gt": 0}).features
    )
    assert iris == (
        "Every feature is a JSON number inside the contract's bounds. Every feature is "
        "required; unknown fields are refused."
    )
    unbounded = row_rules([FeatureSpec(name="x"), FeatureSpec(name="n", type="int")])
    assert unbounded == (
        "Every feature is a JSON number (whole numbers: `n`). Every feature is required; "
        "unknown fields are refused."
    )
    many = [f"c{i:02d}" for i in range(20)]
    listed = row_rules([FeatureSpec(name="c", type="category", categories=many)])
    assert listed.startswith('`c` is one of "c00", "c01"')
    assert '"c11" ... (20 in all).' in listed and '"c12"' not in listed
    gaps = row_rules([FeatureSpec(name="x", nullable=True), FeatureSpec(name="y", nullable=True)])
    assert "Every feature may be null or left out (then imputed)" in gaps
    assert "except" not in gaps
