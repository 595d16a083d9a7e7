"""The vectorised batch check: bounds, finiteness, nulls and integral values."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.serving import scoring_protocol
from petalflow.serving.batch_check import Columns, fast_rows, fast_split, numbers_only
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


# The tests below build their Columns inside the test (not at import), so that a
# mutation tool that swaps the module's functions after collection reaches them too.


def _mixed_columns() -> Columns:
    return Columns.of(MIXED)


def test_columns_of_a_mixed_contract_lists_rules_per_feature() -> None:
    columns = _mixed_columns()
    assert columns.features == ("plan", "active", "seats", "size", "tier")
    assert columns.plain is False
    assert columns.integral.tolist() == [2]
    assert columns.nullable.tolist() == [True, False, False, True, False]
    assert columns.low.tolist() == [-np.inf, -np.inf, 1.0, 0.0, -np.inf]
    assert columns.high.tolist() == [np.inf, np.inf, 50.0, np.inf, np.inf]
    assert columns.low_open.tolist() == [False, False, False, True, False]
    assert columns.high_open.tolist() == [False] * 5


def test_columns_of_is_plain_only_for_non_null_numbers() -> None:
    def plain(*features: dict[str, Any]) -> bool:
        contract = ModelContract(
            dataset="d", features=list(features), target="t", classes=["x", "y"]
        )
        return Columns.of(contract).plain

    assert plain({"name": "a", "type": "float"}, {"name": "b", "type": "int"}) is True
    assert plain({"name": "a", "type": "float", "nullable": True}) is False
    assert plain({"name": "a", "type": "bool"}) is False
    assert plain({"name": "a", "type": "category", "categories": ["p"]}) is False


def test_columns_category_check_encodes_the_index_and_a_null() -> None:
    check = _mixed_columns().checks[0]  # plan: basic, pro; nullable
    encoded = check(["pro", None, "basic"])
    assert encoded is not None and encoded.dtype == np.float64
    assert encoded[0] == 1.0 and np.isnan(encoded[1]) and encoded[2] == 0.0
    assert check(["gold"]) is None
    assert check([1]) is None
    assert check([True]) is None


def test_columns_category_check_refuses_a_null_unless_nullable() -> None:
    check = _mixed_columns().checks[4]  # tier: "1", "2"; not nullable
    assert check(["2", "1"]).tolist() == [1.0, 0.0]
    assert check([None]) is None
    assert check([2]) is None


def test_columns_bool_check_encodes_true_false_and_refuses_others() -> None:
    check = _mixed_columns().checks[1]  # active: not nullable
    assert check([True, False]).tolist() == [1.0, 0.0]
    assert check([None]) is None
    assert check([1]) is None
    assert check(["true"]) is None
    nullable = ModelContract(
        dataset="d",
        features=[{"name": "b", "type": "bool", "nullable": True}],
        target="t",
        classes=["x", "y"],
    )
    encoded = Columns.of(nullable).checks[0]([None, True])
    assert np.isnan(encoded[0]) and encoded[1] == 1.0


def test_columns_number_check_takes_ints_floats_and_allowed_nulls() -> None:
    columns = _mixed_columns()
    seats, size = columns.checks[2], columns.checks[3]  # seats: int, size: nullable float
    assert seats([3, 4.5]).tolist() == [3.0, 4.5]
    assert seats([None]) is None
    assert seats([True]) is None
    assert seats(["3"]) is None
    assert seats([10**400]) is None  # too large for a float
    encoded = size([None, 2])
    assert np.isnan(encoded[0]) and encoded[1] == 2.0
    assert size([10**400]) is None


def test_columns_valid_applies_nulls_bounds_and_integers_per_column() -> None:
    columns = _mixed_columns()
    ok = [1.0, 1.0, 3.0, 2.5, 0.0]
    assert columns.valid(np.array([ok])) is True
    # A null where it is allowed (plan, size), not elsewhere.
    assert columns.valid(np.array([[np.nan, 1.0, 3.0, np.nan, 0.0]])) is True
    assert columns.valid(np.array([[1.0, 1.0, np.nan, 2.5, 0.0]])) is False
    # seats: 1 <= x <= 50, whole; size: > 0 (open).
    for seats, taken in [(1.0, True), (50.0, True), (0.0, False), (51.0, False), (3.5, False)]:
        assert columns.valid(np.array([[1.0, 1.0, seats, 2.5, 0.0]])) is taken, seats
    for size, taken in [(1e-300, True), (0.0, False), (-1.0, False), (np.inf, False)]:
        assert columns.valid(np.array([[1.0, 1.0, 3.0, size, 0.0]])) is taken, size


def test_columns_valid_closed_and_open_upper_bounds() -> None:
    contract = ModelContract(
        dataset="d",
        features=[{"name": "a", "le": 2}, {"name": "b", "lt": 2}],
        target="t",
        classes=["x", "y"],
    )
    columns = Columns.of(contract)
    assert columns.valid(np.array([[2.0, 1.5]])) is True
    assert columns.valid(np.array([[2.5, 1.5]])) is False
    assert columns.valid(np.array([[2.0, 2.0]])) is False
    assert columns.valid(np.array([[-np.inf, 1.0]])) is False


def test_fast_rows_encodes_a_mixed_batch_built_in_the_test() -> None:
    records = [
        {"plan": "basic", "active": False, "seats": 1, "size": 0.5, "tier": "1"},
        {"plan": None, "active": True, "seats": 50, "size": None, "tier": "2"},
    ]
    rows = fast_rows(records, _mixed_columns())
    assert rows is not None and rows.shape == (2, 5)
    assert rows[0].tolist() == [0.0, 0.0, 1.0, 0.5, 0.0]
    assert np.isnan(rows[1, 0]) and np.isnan(rows[1, 3])
    assert rows[1, [1, 2, 4]].tolist() == [1.0, 50.0, 1.0]


@pytest.mark.parametrize(
    "change",
    [
        {"plan": "gold"},
        {"active": None},
        {"seats": 0},
        {"seats": 2.5},
        {"seats": None},
        {"size": 0.0},
        {"size": "2"},
        {"tier": None},
    ],
)
def test_fast_rows_declines_a_mixed_record_breaking_one_rule(change: dict[str, Any]) -> None:
    assert fast_rows([VALID, {**VALID, **change}], _mixed_columns()) is None


@pytest.mark.parametrize(
    "records",
    [
        {"instances": [VALID]},  # not a list
        (VALID,),
        [],
        [VALID, [1, 2, 3, 4, 5]],  # not a dict
        [{**VALID, "extra": 1}],  # one key too many
        [{k: v for k, v in VALID.items() if k != "tier"}],  # one key missing
        [{**{k: v for k, v in VALID.items() if k != "tier"}, "other": "1"}],  # a wrong key
    ],
)
def test_fast_rows_declines_what_is_not_a_list_of_exact_records(records: Any) -> None:
    assert fast_rows(records, _mixed_columns()) is None


def test_fast_rows_takes_a_one_feature_contract_of_each_kind() -> None:
    def one(feature: dict[str, Any], values: list[Any]) -> np.ndarray | None:
        contract = ModelContract(dataset="d", features=[feature], target="t", classes=["x", "y"])
        return fast_rows([{feature["name"]: v} for v in values], Columns.of(contract))

    assert one({"name": "a"}, [1, 2.5]).tolist() == [[1.0], [2.5]]
    assert one(
        {"name": "c", "type": "category", "categories": ["p", "q"]}, ["q", "p"]
    ).tolist() == [
        [1.0],
        [0.0],
    ]
    assert one({"name": "b", "type": "bool"}, [True]).tolist() == [[1.0]]
    assert one({"name": "a"}, [10**400]) is None
    assert one({"name": "a"}, [True]) is None
    assert one({"name": "a"}, [float("nan")]) is None


def test_fast_rows_of_a_plain_contract_keeps_rows_and_feature_order() -> None:
    contract = numeric_contract("d", ["a", "b", "c"], ["x", "y"], "t")
    records = [{"c": 3, "a": 1.5, "b": -2}, {"a": 4.0, "b": 5.0, "c": 6.0}]
    rows = fast_rows(records, Columns.of(contract))
    assert rows is not None and rows.dtype == np.float64
    assert rows.tolist() == [[1.5, -2.0, 3.0], [4.0, 5.0, 6.0]]
    assert fast_rows([{"a": 1, "b": 2, "c": 10**400}], Columns.of(contract)) is None
    assert fast_rows([{"a": 1, "b": 2, "c": None}], Columns.of(contract)) is None
    assert fast_rows([{"a": 1, "b": 2, "c": "3"}], Columns.of(contract)) is None


def _split_of(records: list[dict[str, Any]], rng: random.Random) -> tuple[list[Any], list[Any]]:
    """The records as shuffled column names and rows of values (a key left out: null)."""
    names = list(VALID)
    rng.shuffle(names)
    return names, [[r.get(name) for name in names] for r in records]


@pytest.mark.parametrize("seed", range(200))
def test_fast_split_of_a_mixed_contract_never_accepts_more_than_pydantic(seed: int) -> None:
    rng = random.Random(seed)
    records = [_mixed_record(rng) for _ in range(rng.randint(1, 4))]
    records = [{k: v for k, v in r.items() if k != "extra"} for r in records]
    names, data = _split_of(records, rng)
    complete = [{name: r.get(name) for name in VALID} for r in records]
    fast, slow = MIXED_MODELS.fast_split(names, data), _pydantic_rows(complete)
    if slow is None:
        assert fast is None
    elif fast is not None:
        assert np.array_equal(fast, slow, equal_nan=True)


def test_fast_split_of_a_plain_contract_puts_columns_in_feature_order() -> None:
    contract = numeric_contract("d", ["a", "b", "c"], ["x", "y"], "t", {"gt": 0})
    columns = Columns.of(contract)
    rows = fast_split(["c", "a", "b"], [[3, 1.5, 2], [6.0, 4, 5]], columns)
    assert rows is not None and rows.tolist() == [[1.5, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    ("names", "data"),
    [
        (["a", "b", "b"], [[1, 2, 3]]),  # a column twice
        (["a", "b", "d"], [[1, 2, 3]]),  # not a feature
        (["a", "b"], [[1, 2]]),
        (["a", "b", ["c"]], [[1, 2, 3]]),
        (["a", "b", "c"], []),
        (["a", "b", "c"], [[1, 2]]),
        (["a", "b", "c"], [(1, 2, 3)]),
        (["a", "b", "c"], [[1, 2, 0]]),  # gt 0
        (["a", "b", "c"], [[1, 2, True]]),
        (["a", "b", "c"], [[1, 2, "3"]]),
        (["a", "b", "c"], [[1, 2, None]]),
        ("abc", [[1, 2, 3]]),
        (["a", "b", "c"], {"a": 1}),
    ],
)
def test_fast_split_leaves_anything_uncertain_to_pydantic(names: Any, data: Any) -> None:
    columns = Columns.of(numeric_contract("d", ["a", "b", "c"], ["x", "y"], "t", {"gt": 0}))
    assert fast_split(names, data, columns) is None


def _columns(bounds: dict[str, float] | None = None, **feature: Any) -> Columns:
    """Three features a, b, c under ``bounds``; ``feature`` overrides c's spec."""
    specs: list[dict[str, Any]] = [{"name": name, **(bounds or {})} for name in "abc"]
    specs[2].update(feature)
    return Columns.of(ModelContract(dataset="d", features=specs, target="t", classes=["x", "y"]))


def _body(names: Any, data: Any) -> bytes:
    return json.dumps({"columns": names, "data": data}).encode()  # takes 10**400


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"columns": ["a", "b", "c"], "data": [[1, 2.5, 3], [4e-3, -5, 6E+2]]}', True),
        (b'{"data":[[1,2,3]],\n\t"columns":["c","a","b"]}', True),
        (b'{"columns": ["a", "b", "c"], "data": [[1, 2, "3"]]}', False),
        (b'{"columns": ["a", "b", "c"], "data": [[1, 2, true]]}', False),
        (b'{"columns": ["a", "b", "c"], "data": [[1, 2, false]]}', False),
        (b'{"columns": ["a", "b", "c"], "data": [[1, 2, null]]}', False),
        (b'{"columns": ["a", "b", "c"], "data": [[1, 2, {}]]}', False),
        (b'{"columns": ["a", "b", "\\u0063"], "data": [[1, 2, 3]]}', False),  # an escape
    ],
)
def test_numbers_only_reads_the_text_of_the_body(body: bytes, expected: bool) -> None:
    names = orjson.loads(body)["columns"]
    assert numbers_only(body, names) is expected


@pytest.mark.parametrize("seed", range(100))
def test_fast_split_with_the_body_gives_what_it_gives_without(seed: int) -> None:
    rng = random.Random(seed)
    columns = _columns({"gt": 0, "le": 9})
    values = [0, 1, 9, 10, 2.5, 9.0000001, 1e-300, -1.0, 8.999999999999998, 5e0, 10**400]
    names = rng.sample(["a", "b", "c"], 3)
    data = [[rng.choice(values) for _ in names] for _ in range(rng.randint(1, 5))]
    if rng.random() < 0.2:
        data[0] = data[0][:2]  # a short row
    body = _body(names, data)
    with_body, without = fast_split(names, data, columns, body), fast_split(names, data, columns)
    assert (with_body is None) == (without is None)
    if without is not None:
        assert with_body is not None and with_body.tolist() == without.tolist()


@pytest.mark.parametrize(
    "data",
    [
        [[1, 2]],  # a short row
        [[1, 2, 3, 4]],
        [1, [1, 2, 3]],  # a number as a row
        [[1, 2, [3]]],  # a list as a value
        [[1, 2, 0]],  # gt 0
        [[1, 2, 10**400]],
        [[1, 2, 3]] * 2 + [[1, 2, "3"]],
        [[1, 2, True]],
        [[1, 2, None]],
        [[1, 2], [3, 4, 5, 6]],  # a short and a long row: as many values as two rows
    ],
)
def test_fast_split_with_the_body_leaves_anything_uncertain_to_pydantic(data: Any) -> None:
    columns = _columns({"gt": 0})
    assert fast_split(["a", "b", "c"], data, columns, _body(["a", "b", "c"], data)) is None


def _each_value_valid(rows: np.ndarray, low: tuple[float, bool], high: tuple[float, bool]) -> bool:
    """The oracle: every value compared on its own, as pydantic does."""
    (lo, lo_open), (hi, hi_open) = low, high
    return all(
        math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        for v in rows.ravel().tolist()
    )


@pytest.mark.parametrize(
    ("bounds", "low", "high"),
    [
        ({"gt": 0, "le": 100}, (0.0, True), (100.0, False)),
        ({"ge": -1, "lt": 2}, (-1.0, False), (2.0, True)),
        ({"gt": 1e-308, "lt": 1e308}, (1e-308, True), (1e308, True)),
    ],
)
def test_columns_valid_with_closed_bounds_agrees_with_each_values_comparison(
    bounds: dict[str, float], low: tuple[float, bool], high: tuple[float, bool]
) -> None:
    columns = _columns(bounds)
    assert columns.closed is not None
    edges = [low[0], high[0]]
    near = [np.nextafter(e, d) for e in edges for d in (-np.inf, np.inf)]
    pool = [*edges, *near, 0.5, 1.5, -5.0, math.nan, math.inf, -math.inf]
    rng = random.Random(7)
    for _ in range(300):
        rows = np.array([[rng.choice(pool) for _ in range(3)] for _ in range(rng.randint(1, 3))])
        assert columns.valid(rows) is _each_value_valid(rows, low, high), rows


@pytest.mark.parametrize(
    ("bounds", "feature"),
    [
        ({"gt": 0}, {}),  # no upper bound
        ({"gt": 0, "le": 9}, {"nullable": True}),
        ({"gt": 0, "le": 9}, {"type": "int"}),
    ],
)
def test_columns_closed_bounds_only_for_finite_bounded_non_null_floats(
    bounds: dict[str, float], feature: dict[str, Any]
) -> None:
    assert _columns(bounds, **feature).closed is None


PLAIN = [
    numeric_contract("d", ["sepal_length", "e1", "E[0]"], ["x", "y"], "t", {"gt": 0, "le": 9}),
    ModelContract(
        dataset="d",
        features=[{"name": "n", "type": "int", "ge": 0}, {"name": "x", "lt": 5}],
        target="t",
        classes=["x", "y"],
    ),
]
VALUE_TEXTS = ["1", "2.5", "0", "9", "10", "-1", "-0", "1E0", "1e-400", "1e400", "4.999"]
VALUE_TEXTS += ['"1"', "true", "false", "null", "[]", "[1]", "{}", "1" * 30]


def _name_text(name: str, rng: random.Random) -> str:
    """A column name as JSON, now and then with an escaped character."""
    if rng.random() < 0.1:
        return '"' + "".join(f"\\u{ord(c):04x}" for c in name) + '"'
    return json.dumps(name)


@pytest.mark.parametrize("seed", range(300))
def test_fast_split_of_a_columnar_body_never_accepts_more_than_pydantic(seed: int) -> None:
    rng = random.Random(seed)
    contract = PLAIN[seed % 2]
    models = build_request_models(contract)
    names = rng.sample(contract.feature_names, len(contract.feature_names))
    rows = []
    for _ in range(rng.randint(1, 4)):
        width = len(names) + (rng.choice([-1, 1]) if rng.random() < 0.1 else 0)
        rows.append("[" + ", ".join(rng.choice(VALUE_TEXTS) for _ in range(width)) + "]")
    space = rng.choice(["", " ", "\n\t"])
    columns = "[" + f",{space}".join(_name_text(name, rng) for name in names) + "]"
    body = f'{{"columns":{space}{columns},{space}"data": [{", ".join(rows)}]}}'.encode()
    payload = scoring_protocol.loads(body)  # the server's parser (pydantic's for 1e400)
    data = payload["data"]
    fast = models.fast_split(payload["columns"], data, body)
    try:
        if any(type(row) is not list or len(row) != len(names) for row in data):
            raise ValueError("not one value per column")
        records = [dict(zip(names, row, strict=True)) for row in data]
        batch: Any = models.batch.model_validate({"instances": records})
    except (ValueError, ValidationError):
        assert fast is None
        return
    if fast is not None:
        assert fast.tolist() == models.rows_of(batch.instances).tolist()
