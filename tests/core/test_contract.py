"""The model contract: pydantic's own validation and hand-written documents are the oracles."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from petalflow.core.contract import (
    CONTRACT_VERSION,
    FeatureSpec,
    ModelContract,
    numeric_contract,
    parse_contract,
    parse_data_contract,
)
from petalflow.core.errors import ContractError, DataContractError


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "dataset": "iris",
        "features": [{"name": "a"}, {"name": "b"}],
        "target": "species",
        "classes": ["x", "y"],
    }
    return {**document, **changes}


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({}, {}),
        ({"gt": 0}, {"gt": 0.0}),
        ({"ge": -1, "lt": 2.5}, {"ge": -1.0, "lt": 2.5}),
        ({"ge": 0, "gt": 0, "le": 1, "lt": 1}, {"ge": 0.0, "gt": 0.0, "le": 1.0, "lt": 1.0}),
    ],
)
def test_feature_spec_bounds_lists_only_the_set_bounds(
    bounds: dict[str, float], expected: dict[str, float]
) -> None:
    assert FeatureSpec(name="a", **bounds).bounds() == expected


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({}, ""),
        ({"gt": 0}, "> 0"),
        ({"ge": 0}, ">= 0"),
        ({"lt": 1}, "< 1"),
        ({"le": 1}, "<= 1"),
        ({"gt": 0, "le": 100}, "> 0 and <= 100"),
        ({"ge": -5, "lt": 7}, ">= -5 and < 7"),
        (
            {"ge": 0.5, "gt": 1e-9, "le": 2.25, "lt": 1e6},
            ">= 0.5 and > 1e-09 and <= 2.25 and < 1e+06",
        ),
    ],
)
def test_feature_spec_rule_words_each_bound(bounds: dict[str, float], expected: str) -> None:
    assert FeatureSpec(name="a", **bounds).rule() == expected


def test_feature_spec_defaults_to_a_required_non_null_float() -> None:
    spec = FeatureSpec(name="a")
    assert (spec.type, spec.nullable, spec.categories, spec.description) == (
        "float",
        False,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"name": ""}, "at least 1 character"),
        ({"name": "a", "type": "text"}, "type"),
        ({"name": "a", "unit": "cm"}, "Extra inputs are not permitted"),
        ({"name": "a", "ge": "low"}, "ge"),
    ],
)
def test_feature_spec_rejects_invalid_documents(document: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        FeatureSpec.model_validate(document)


def test_feature_spec_is_frozen() -> None:
    spec = FeatureSpec(name="a")
    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "b"  # type: ignore[misc]


def test_model_contract_accepts_a_consistent_document() -> None:
    contract = ModelContract.model_validate(
        _document(positive_class="y", verification_rows=[[1.0, 2.0], [3.0, 4.0]])
    )
    assert contract.contract_version == CONTRACT_VERSION == 1
    assert contract.feature_names == ["a", "b"]
    assert contract.positive_class == "y"
    assert contract.verification_rows == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"features": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}, r"duplicate names \['a'\]"),
        (
            {"features": [{"name": "b"}, {"name": "a"}, {"name": "b"}, {"name": "a"}]},
            r"duplicate names \['a', 'b'\]",
        ),
        ({"target": "b"}, "target 'b' is also listed among the features"),
        ({"positive_class": "z"}, "positive_class 'z' is not a class"),
        ({"verification_rows": [[1.0, 2.0], [1.0]]}, "every row needs 2 values"),
        ({"verification_rows": [[1.0, 2.0, 3.0]]}, "every row needs 2 values"),
        ({"features": []}, "features"),
        ({"classes": ["x"]}, "classes"),
        ({"extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_model_contract_rejects_inconsistent_documents(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ModelContract.model_validate(_document(**changes))


def test_model_contract_to_json_round_trips() -> None:
    contract = ModelContract.model_validate(
        _document(
            features=[{"name": "a", "gt": 0, "description": "a length"}, {"name": "b"}],
            verification_rows=[[1.5, 2.0]],
        )
    )
    document = contract.to_json()
    assert document["features"][0] == {
        "name": "a",
        "type": "float",
        "ge": None,
        "gt": 0.0,
        "le": None,
        "lt": None,
        "categories": None,
        "nullable": False,
        "description": "a length",
    }
    assert document["contract_version"] == 1
    assert document["verification_rows"] == [[1.5, 2.0]]
    assert ModelContract.model_validate(document) == contract


def test_model_contract_to_json_gives_jsons_own_types_for_values_that_skipped_validation() -> None:
    # model_copy(update=...) does not validate (training lists a category feature's
    # observed categories that way), so numpy scalars can sit in a contract. to_json's JSON
    # mode gives them as the str and float that json.loads reads back; model_dump's default
    # (Python) mode would hand back the np.str_ and np.float64 themselves.
    plan = FeatureSpec(name="plan", type="category").model_copy(
        update={"categories": [np.str_("basic"), np.str_("pro")]}
    )
    contract = ModelContract.model_validate(_document()).model_copy(
        update={
            "features": [plan, FeatureSpec(name="b")],
            "classes": [np.str_("x"), "y"],
            "verification_rows": [[np.float64(0.0), np.float64(1.5)]],
        }
    )
    assert type(contract.verification_rows[0][1]) is np.float64  # what the model holds
    document = contract.to_json()
    assert document == json.loads(contract.model_dump_json())
    assert [type(c) for c in document["features"][0]["categories"]] == [str, str]
    assert [type(c) for c in document["classes"]] == [str, str]
    assert [type(v) for v in document["verification_rows"][0]] == [float, float]


def test_parse_contract_returns_the_contract() -> None:
    contract = parse_contract(_document(), "contract.json")
    assert contract == ModelContract.model_validate(_document())


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (_document(target="a"), "also listed among the features"),
        ({"dataset": "iris"}, "Field required"),
        ("not a document", "valid dictionary"),
    ],
)
def test_parse_contract_names_the_source_of_an_invalid_contract(document: Any, reason: str) -> None:
    with pytest.raises(ContractError, match=reason) as caught:
        parse_contract(document, "/models/7/contract.json")
    message = str(caught.value)
    assert message.startswith("/models/7/contract.json is not a valid model contract (")
    assert message.endswith("); retrain the model with this version of petalflow")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_numeric_contract_builds_float_features_under_the_same_bounds() -> None:
    contract = numeric_contract(
        "iris", ["a", "b"], ["x", "y"], "species", {"gt": 0, "le": 100}, "cm", [[1, 2]]
    )
    assert contract.dataset == "iris"
    assert contract.target == "species"
    assert contract.classes == ["x", "y"]
    assert contract.positive_class is None
    assert contract.features == [
        FeatureSpec(name=name, type="float", gt=0, le=100, description="cm") for name in "ab"
    ]
    assert contract.verification_rows == [[1.0, 2.0]]
    assert all(type(v) is float for v in contract.verification_rows[0])


def test_numeric_contract_defaults_to_unbounded_undescribed_features() -> None:
    contract = numeric_contract("d", ["a"], ["x", "y"], "t")
    assert contract.features == [FeatureSpec(name="a")]
    assert contract.verification_rows == []


def test_numeric_contract_turns_classes_into_strings() -> None:
    assert numeric_contract("d", ["a"], [0, 1, 2], "t").classes == ["0", "1", "2"]  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_numeric_contract_rejects_non_finite_verification_rows(bad: float) -> None:
    with pytest.raises(ContractError, match=r"^verification rows must be finite numbers$"):
        numeric_contract(
            "d", ["a", "b"], ["x", "y"], "t", verification_rows=[[1.0, 2.0], [1.0, bad]]
        )


def _data_contract(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "churn",
        "source": "churn.csv",
        "target": "churned",
        "features": [
            {"name": "tenure", "type": "int", "ge": 0},
            {"name": "plan", "type": "category", "categories": ["basic", "pro"]},
        ],
    }
    return {**document, **changes}


def test_data_contract_reads_the_spec_example() -> None:
    contract = parse_data_contract(_data_contract(drop=["id"], positive_class="yes"), "c.yaml")
    assert contract.feature_names == ["tenure", "plan"]
    assert contract.drop == ["id"] and contract.positive_class == "yes"
    assert contract.features[0].numeric and not contract.features[1].numeric


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": [{"name": "a", "type": "decimal"}]}, "features[0] ('a').type"),
        (
            {"features": [{"name": "a", "type": "category", "le": 1}]},
            "features[0] ('a'): le: bounds apply to float and int features, not category",
        ),
        (
            {"features": [{"name": "a", "type": "bool", "ge": 0}]},
            "ge: bounds apply to float and int features, not bool",
        ),
        (
            {"features": [{"name": "a", "categories": ["x"]}]},
            "categories: only a category feature has them, not float",
        ),
        (
            {"features": [{"name": "a", "type": "category", "categories": ["x", "x"]}]},
            "categories: list each category once",
        ),
        (
            {"features": [{"name": "churned"}]},
            "features: the target 'churned' cannot also be a features column",
        ),
        ({"drop": ["churned"]}, "drop: the target 'churned' cannot also be a drop column"),
        ({"features": [{"name": "a"}, {"name": "a"}]}, "duplicate column names ['a']"),
        ({"drop": ["tenure"]}, "duplicate column names ['tenure']"),
        ({"source": None}, "source: Input should be a valid string"),
        ({"features": []}, "features: List should have at least 1 item"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        (
            {"features": [{"name": "a", "le": float("inf")}]},
            "features[0] ('a').le: Input should be a finite number",
        ),
        (
            {"features": [{"name": "a", "ge": float("nan")}]},
            "features[0] ('a').ge: Input should be a finite number",
        ),
        (
            {"features": [{"name": "a", "ge": 5, "le": 1}]},
            "features[0] ('a'): ge, le: no value fits ge 5 and le 1",
        ),
        (
            {"features": [{"name": "a", "gt": 1, "lt": 1}]},
            "features[0] ('a'): gt, lt: no value fits gt 1 and lt 1",
        ),
    ],
)
def test_data_contract_errors_name_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DataContractError) as caught:
        parse_data_contract(_data_contract(**changes), "c.yaml")
    assert str(caught.value).startswith("c.yaml: ")
    assert message in str(caught.value)


def test_data_contract_must_be_a_mapping() -> None:
    with pytest.raises(DataContractError, match=r"c.yaml: must be a mapping"):
        parse_data_contract(["name"], "c.yaml")


def test_data_contract_reads_numeric_categories_as_text() -> None:
    document = _data_contract(features=[{"name": "a", "type": "category", "categories": [1, 2]}])
    assert parse_data_contract(document, "c").features[0].categories == ["1", "2"]
