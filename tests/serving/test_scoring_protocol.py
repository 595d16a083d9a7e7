"""MLflow's scoring protocol: JSON parsing refuses repeated keys, cheaply when there are none."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pandas as pd
import pytest

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.core.errors import ClientError
from petalflow.serving import duplicate_keys
from petalflow.serving.duplicate_keys import DuplicateKeyError
from petalflow.serving.request_models import build_request_models
from petalflow.serving.scoring_protocol import keys_at_least, loads, parse_payload
from petalflow.serving.scoring_tables import ScoringError
from petalflow.training.data import FEATURE_NAMES

MODELS = build_request_models(
    numeric_contract("iris", FEATURE_NAMES, ["a", "b", "c"], "t", {"gt": 0, "le": 100})
)
ROW = dict(zip(FEATURE_NAMES, [5.1, 3.5, 1.4, 0.2], strict=True))
ROWS = [ROW, {**ROW, "petal_width": 2.5}, ROW]
FORMATS = [
    {"dataframe_records": ROWS},
    {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [list(r.values()) for r in ROWS]}},
    {
        "dataframe_split": {
            "index": [7, 8, 9],
            "columns": list(FEATURE_NAMES),
            "data": [list(r.values()) for r in ROWS],
        }
    },
    {"instances": ROWS},
    {"instances": {f: [r[f] for r in ROWS] for f in FEATURE_NAMES}},
    {"inputs": ROWS},
    {"inputs": {f: [r[f] for r in ROWS] for f in FEATURE_NAMES}},
    {"dataframe_records": ROWS, "params": {"a": {"b": [1, 2]}, "c": [{"d": 1}]}},
]


def _never(body: bytes) -> list[tuple[str, int]]:
    raise AssertionError("the precise duplicate check ran")


@pytest.mark.parametrize("payload", FORMATS, ids=lambda p: "+".join(p))
@pytest.mark.parametrize("indent", [None, 2])
def test_parse_payload_skips_the_precise_check_for_every_format(
    monkeypatch: pytest.MonkeyPatch, payload: dict[str, Any], indent: int | None
) -> None:
    monkeypatch.setattr(duplicate_keys, "repeated_keys", _never)
    rows = parse_payload(json.dumps(payload, indent=indent).encode(), MODELS).rows
    assert rows.tolist() == [list(r.values()) for r in ROWS]


def _records(key: str, repeat: str) -> bytes:
    rows = [json.dumps(r)[:-1] for r in ROWS]
    rows[1] += f", {repeat}: 7.7"
    return f'{{"{key}": [{"}, ".join(rows)}}}]}}'.encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_records("dataframe_records", '"sepal_length"'), "dataframe_records.1.sepal_length"),
        (_records("instances", '"petal_width"'), "instances.1.petal_width"),
        (_records("inputs", '"sepal_width"'), "inputs.1.sepal_width"),
        (b'{"inputs": {"a": [1], "a": [2]}}', "inputs.a"),
        (
            b'{"dataframe_split": {"data": [[1, 2, 3, 4]], "data": [[4, 3, 2, 1]]}}',
            "dataframe_split.data",
        ),
        (b'{"instances": [[1, 2, 3, 4]], "instances": [[4, 3, 2, 1]]}', "instances"),
        (b'{"instances": [[1, 2, 3, 4]], "params": {"k": 1, "k": 1}}', "params.k"),
        (b'{"a": 1e400, "a": 2}', "a"),  # refused by orjson, parsed by pydantic: still checked
    ],
)
def test_loads_rejects_a_repeated_key_naming_its_path(body: bytes, field: str) -> None:
    with pytest.raises(DuplicateKeyError, match=rf"^invalid request: {field} appears (twice|3)"):
        loads(body)
    with pytest.raises(DuplicateKeyError) as caught:
        parse_payload(body, MODELS)
    assert caught.value.details[0]["field"] == field


def test_loads_accepts_colons_inside_strings() -> None:
    body = b'{"instances": [[1, 2, 3, 4]], "params": {"at": "12:00:00", "zone": "+01:00"}}'
    assert loads(body)["params"] == {"at": "12:00:00", "zone": "+01:00"}


def test_parse_payload_rejects_a_repeated_column() -> None:
    columns = [*FEATURE_NAMES, "sepal_length"]
    body = json.dumps({"dataframe_split": {"columns": columns, "data": [[1, 2, 3, 4, 9]]}})
    with pytest.raises(
        DuplicateKeyError,
        match=r"^invalid request: sepal_length appears twice in dataframe_split\.columns; "
        r"send each column once",
    ) as caught:
        parse_payload(body.encode(), MODELS)
    assert caught.value.details[0]["field"] == "dataframe_split.columns"


@pytest.mark.parametrize(
    ("document", "keys"),
    [
        ({"instances": ROWS}, 13),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]]}}, 3),
        ({"inputs": {"a": [1, 2], "b": [3, 4]}}, 3),
        ({"instances": [[1, 2], {"a": 1}]}, 1),  # not only records: the records not counted
        ({"instances": [{"a": 1}, [1, 2]]}, 1),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, 4),  # three levels down, then no deeper
        ([{"a": {"b": 1}}], 1),
        ([], 0),
        ("a:b", 0),
    ],
)
def test_keys_at_least_counts_objects_and_records(document: Any, keys: int) -> None:
    assert keys_at_least(document) == keys


def _document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        return rng.choice([1, 2.5, "x:y", None, True, [], {}])
    if roll < 0.65:
        return {rng.choice("abcdef"): _document(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_document(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _all_keys(document: Any) -> int:
    if isinstance(document, dict):
        return len(document) + sum(_all_keys(v) for v in document.values())
    if isinstance(document, list):
        return sum(_all_keys(v) for v in document)
    return 0


@pytest.mark.parametrize("seed", range(200))
def test_keys_at_least_never_counts_more_keys_than_there_are(seed: int) -> None:
    document = _document(random.Random(seed))
    assert keys_at_least(document) <= _all_keys(document)


def _text(rng: random.Random, depth: int = 0) -> tuple[str, bool]:
    """Random JSON text, keys drawn from few names, and whether an object repeats one."""
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice(["1", "2.5", '"x:y"', '"::"', "null", "[]", "{}"]), False
    parts = [_text(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    repeated = any(r for _, r in parts)
    if roll < 0.65:
        keys = [rng.choice(["a", "b", "c:d", "e"]) for _ in parts]
        repeated = repeated or len(set(keys)) < len(keys)
        pairs = ", ".join(f'"{k}": {t}' for k, (t, _) in zip(keys, parts, strict=True))
        return "{" + pairs + "}", repeated
    return "[" + ", ".join(t for t, _ in parts) + "]", repeated


@pytest.mark.parametrize("seed", range(300))
def test_loads_rejects_a_body_exactly_when_an_object_repeats_a_key(seed: int) -> None:
    text, repeated = _text(random.Random(seed))
    if repeated:
        with pytest.raises(DuplicateKeyError):
            loads(text.encode())
    else:
        assert loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    ("payload", "ignored"),
    [
        ({"dataframe_records": ROWS}, {}),
        (
            {"dataframe_records": [{**r, "id": 1} for r in ROWS], "signature_name": "x"},
            {"key": ("signature_name",), "column": ("id",)},
        ),
        ({"instances": ROWS, "params": {"a": 1, "b": 2}}, {"key": (), "param": ("a", "b")}),
        ({"instances": ROWS, "params": [1]}, {"key": (), "param": ("params",)}),
        ({"inputs": ROWS, "params": None}, {"key": ()}),
        (
            {"dataframe_split": {"columns": [*FEATURE_NAMES, "ts"], "data": [[1, 2, 3, 4, 5]]}},
            {"column": ("ts",)},
        ),
        (  # pandas' unnamed column, ignored as `mlflow models serve` ignores it
            {"dataframe_split": {"columns": [*FEATURE_NAMES, None], "data": [[1, 2, 3, 4, 5]]}},
            {"column": ("None",)},
        ),
    ],
)
def test_parse_payload_returns_what_it_ignored(
    payload: dict[str, Any], ignored: dict[str, tuple[str, ...]]
) -> None:
    parsed = parse_payload(json.dumps(payload).encode(), MODELS)
    assert parsed.ignored == ignored
    assert len(parsed.rows) == (1 if "dataframe_split" in payload else len(ROWS))


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [list(r.values()) for r in ROWS]},
        {"inputs": [list(r.values()) for r in ROWS]},
        {"dataframe_split": {"data": [list(r.values()) for r in ROWS]}},
        {"dataframe_records": [list(r.values()) for r in ROWS]},
    ],
    ids=lambda p: next(iter(p)),
)
def test_parse_payload_refuses_rows_without_column_names(payload: dict[str, Any]) -> None:
    with pytest.raises(ScoringError) as caught:
        parse_payload(json.dumps(payload).encode(), MODELS)
    assert caught.value.mlflow_code == "INVALID_PARAMETER_VALUE"
    assert "without column names" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"1", b'"x"', b"null", b'{"rows": []}', b'{"instances": [], "inputs": []}'],
)
def test_parse_payload_refuses_a_body_without_exactly_one_format(body: bytes) -> None:
    with pytest.raises(ScoringError) as caught:
        parse_payload(body, MODELS)
    assert caught.value.mlflow_code == "BAD_REQUEST"
    assert "exactly one of the input fields" in caught.value.message


@pytest.mark.parametrize("body", [b"", b"{", b"this is,,,, not valid json", b'{"a": "\xff"}'])
def test_parse_payload_refuses_malformed_json_with_400(body: bytes) -> None:
    with pytest.raises(ClientError) as caught:
        parse_payload(body, MODELS)
    assert (caught.value.status, caught.value.code) == (400, "malformed_json")


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"]
)
def test_parse_payload_decodes_json_as_pythons_json_module_does(encoding: str) -> None:
    # Behind a byte order mark, or in UTF-16 or UTF-32: `mlflow models serve` reads such a
    # body with json.loads, which detects the encoding.
    body = json.dumps({"dataframe_records": ROWS}).encode(encoding)
    expected = json.loads(body)["dataframe_records"]
    assert parse_payload(body, MODELS).rows.tolist() == [list(r.values()) for r in expected]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_loads_refuses_a_repeated_key_whatever_the_encoding(encoding: str) -> None:
    body = '{"instances": [{"a": 1, "a": 2}]}'.encode(encoding)
    with pytest.raises(DuplicateKeyError, match=r"instances\.0"):
        loads(body)


def test_parse_payload_refuses_a_byte_order_mark_before_bytes_that_are_not_utf8() -> None:
    with pytest.raises(ClientError) as caught:
        parse_payload(b'\xef\xbb\xbf{"instances": [\xff]}', MODELS)
    assert (caught.value.status, caught.value.code) == (400, "malformed_json")


def test_parse_payload_reads_nan_literals_as_python_json_does() -> None:
    body = b'{"dataframe_records": [{"sepal_length": NaN, "sepal_width": 3.5, '
    body += b'"petal_length": 1.4, "petal_width": 0.2}]}'
    with pytest.raises(ScoringError) as caught:  # a null, and sepal_length is not nullable
        parse_payload(body, MODELS)
    assert caught.value.details[0]["field"] == "dataframe_records.0.sepal_length"


@pytest.mark.parametrize("media", ["csv", "parquet"])
def test_parse_payload_reads_csv_and_parquet(media: str) -> None:
    frame = pd.DataFrame([{**r, "id": i} for i, r in enumerate(ROWS)])
    if media == "csv":
        body = frame.to_csv(index=False).encode()
    else:
        out = io.BytesIO()
        frame.to_parquet(out)
        body = out.getvalue()
    parsed = parse_payload(body, MODELS, media)
    assert parsed.rows.tolist() == [list(r.values()) for r in ROWS]
    assert parsed.ignored == {"column": ("id",)}


CSV_HEAD = ",".join(FEATURE_NAMES) + "\n"


@pytest.mark.parametrize(
    ("rows", "row"),
    [
        ("6.0,3.0,4.5,True\n", 0),
        ("6.0,3.0,4.5,true\n", 0),
        ("6.0,3.0,4.5,FALSE\n", 0),
        ("6.0,3.0,4.5,1.5\n6.0,3.0,4.5,False\n", 1),  # numbers and booleans mixed
    ],
    ids=["True", "true", "FALSE", "mixed"],
)
def test_parse_payload_refuses_a_csv_boolean_as_json_refuses_true(rows: str, row: int) -> None:
    record = {**ROW, "petal_width": True}
    with pytest.raises(ScoringError) as from_json:
        parse_payload(json.dumps({"dataframe_records": [ROW] * row + [record]}).encode(), MODELS)
    with pytest.raises(ScoringError) as from_csv:
        parse_payload((CSV_HEAD + rows).encode(), MODELS, "csv")
    (json_detail,), (csv_detail,) = from_json.value.details, from_csv.value.details
    assert csv_detail["field"] == f"csv.{row}.petal_width"
    assert csv_detail["rule"] == json_detail["rule"] == "float_type"
    assert from_csv.value.code == from_json.value.code == "validation_error"
    assert from_csv.value.mlflow_code == from_json.value.mlflow_code == "BAD_REQUEST"


def test_parse_payload_reads_csv_booleans_for_a_bool_feature() -> None:
    features = [{"name": "a", "type": "float"}, {"name": "flag", "type": "bool"}]
    contract = ModelContract(dataset="d", features=features, target="t", classes=["x", "y"])
    body = b"a,flag\n1.5,True\n2.5,false\n"
    parsed = parse_payload(body, build_request_models(contract), "csv")
    assert parsed.rows.tolist() == [[1.5, 1.0], [2.5, 0.0]]


@pytest.mark.parametrize(
    "payload",
    [{"dataframe_records": ROWS, "messages": []}, {"prompt": "x"}, {"inputs": ROWS, "input": 1}],
)
def test_parse_payload_refuses_mlflows_llm_input_keys(payload: dict[str, Any]) -> None:
    with pytest.raises(ScoringError) as caught:
        parse_payload(json.dumps(payload).encode(), MODELS)
    assert caught.value.mlflow_code == "INVALID_PARAMETER_VALUE"
    assert "LLM request" in caught.value.message
