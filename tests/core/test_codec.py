"""RowCodec: encoded rows <-> the pipeline's DataFrame, checked against hand-written rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from petalflow.core.codec import RowCodec
from petalflow.core.contract import FeatureSpec, ModelContract


@pytest.fixture
def codec() -> RowCodec:
    features = [
        FeatureSpec(name="size", type="float", nullable=True),
        FeatureSpec(name="plan", type="category", categories=["basic", "gold", "pro"]),
        FeatureSpec(name="active", type="bool", nullable=True),
        FeatureSpec(name="seats", type="int"),
    ]
    return RowCodec(ModelContract(dataset="t", features=features, target="y", classes=["a", "b"]))


def test_codec_to_frame_decodes_categories_and_gaps(codec: RowCodec) -> None:
    rows = np.array([[1.5, 2.0, 1.0, 3.0], [np.nan, 0.0, np.nan, 4.0]])
    frame = codec.to_frame(rows)
    assert list(frame.columns) == ["size", "plan", "active", "seats"]
    assert frame["plan"].tolist() == ["pro", "basic"]
    assert frame["plan"].dtype == object
    assert frame["size"].iloc[0] == 1.5 and math.isnan(frame["size"].iloc[1])
    assert frame["active"].iloc[0] == 1.0 and math.isnan(frame["active"].iloc[1])


def test_codec_to_frame_a_gap_in_a_category_is_nan() -> None:
    spec = FeatureSpec(name="c", type="category", categories=["x", "y"], nullable=True)
    contract = ModelContract(dataset="t", features=[spec], target="y", classes=["a", "b"])
    frame = RowCodec(contract).to_frame(np.array([[np.nan], [1.0]]))
    assert math.isnan(frame["c"].iloc[0]) and frame["c"].iloc[1] == "y"


def test_codec_encode_frame_is_the_inverse_of_to_frame(codec: RowCodec) -> None:
    frame = pd.DataFrame(
        {
            "size": [0.25, np.nan],
            "plan": pd.Series(["gold", "basic"], dtype=object),
            "active": [0.0, 1.0],
            "seats": [7.0, 1.0],
        }
    )
    encoded = codec.encode_frame(frame)
    assert encoded[0].tolist() == [0.25, 1.0, 0.0, 7.0]
    assert math.isnan(encoded[1, 0]) and encoded[1, 1:].tolist() == [0.0, 1.0, 1.0]
    pd.testing.assert_frame_equal(codec.to_frame(encoded), frame)


def test_codec_encode_frame_refuses_an_unknown_category(codec: RowCodec) -> None:
    frame = pd.DataFrame({"size": [1.0], "plan": ["platinum"], "active": [1.0], "seats": [1.0]})
    with pytest.raises(ValueError, match="plan: 'platinum' is not one of"):
        codec.encode_frame(frame)


def test_codec_decode_row_gives_client_json(codec: RowCodec) -> None:
    assert codec.decode_row([2.5, 1.0, 0.0, 3.0]) == {
        "size": 2.5,
        "plan": "gold",
        "active": False,
        "seats": 3,
    }
    assert codec.decode_row([None, 2.0, float("nan"), 1.0])["size"] is None
    assert codec.decode_row([None, 2.0, float("nan"), 1.0])["active"] is None


def test_codec_plain_contract_passes_rows_through() -> None:
    spec = [FeatureSpec(name="a"), FeatureSpec(name="b")]
    codec = RowCodec(ModelContract(dataset="t", features=spec, target="y", classes=["p", "q"]))
    assert codec.plain
    frame = codec.to_frame(np.array([[1.0, 2.0]]))
    assert frame.to_numpy().tolist() == [[1.0, 2.0]]


def test_codec_decode_row_gives_python_types_per_feature_type(codec: RowCodec) -> None:
    decoded = codec.decode_row([2.0, 0.0, 1.0, 3.0])
    assert decoded == {"size": 2.0, "plan": "basic", "active": True, "seats": 3}
    # 2.0 == 2 and 1.0 == True in Python: the types are the contract's, checked one by one.
    assert type(decoded["size"]) is float
    assert decoded["active"] is True
    assert type(decoded["seats"]) is int
    assert codec.decode_row([2.0, 0.0, 0.0, 3.0])["active"] is False


def test_codec_decode_row_keeps_a_fractional_int_as_a_float(codec: RowCodec) -> None:
    decoded = codec.decode_row([1.0, 0.0, 1.0, 2.5])
    assert type(decoded["seats"]) is float and decoded["seats"] == 2.5


def test_codec_decode_row_refuses_a_row_of_the_wrong_length(codec: RowCodec) -> None:
    with pytest.raises(ValueError):
        codec.decode_row([1.0, 0.0, 1.0])
    with pytest.raises(ValueError):
        codec.decode_row([1.0, 0.0, 1.0, 3.0, 9.0])


def test_codec_encode_frame_encodes_a_gap_in_a_category_as_nan() -> None:
    spec = FeatureSpec(name="c", type="category", categories=["x", "y"], nullable=True)
    contract = ModelContract(dataset="t", features=[spec], target="y", classes=["a", "b"])
    frame = pd.DataFrame({"c": pd.Series([None, "y", float("nan"), "x"], dtype=object)})
    encoded = RowCodec(contract).encode_frame(frame)
    assert encoded.dtype == np.float64
    assert math.isnan(encoded[0, 0]) and math.isnan(encoded[2, 0])
    assert encoded[1, 0] == 1.0 and encoded[3, 0] == 0.0


def test_codec_encode_frame_encodes_a_pandas_na_number_as_nan(codec: RowCodec) -> None:
    frame = pd.DataFrame(
        {
            "size": pd.Series([pd.NA, 0.5], dtype=object),
            "plan": ["pro", "gold"],
            "active": [1.0, 0.0],
            "seats": [2.0, 5.0],
        }
    )
    encoded = codec.encode_frame(frame)
    assert math.isnan(encoded[0, 0])
    assert encoded[1].tolist() == [0.5, 1.0, 0.0, 5.0]


def test_codec_to_frame_names_the_columns_of_a_plain_contract() -> None:
    spec = [FeatureSpec(name="a"), FeatureSpec(name="b")]
    codec = RowCodec(ModelContract(dataset="t", features=spec, target="y", classes=["p", "q"]))
    frame = codec.to_frame(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert list(frame.columns) == ["a", "b"]
    assert frame["b"].tolist() == [2.0, 4.0]


def test_codec_to_frame_gives_float64_numbers_from_integer_rows(codec: RowCodec) -> None:
    plain_spec = [FeatureSpec(name="a"), FeatureSpec(name="b")]
    plain = RowCodec(
        ModelContract(dataset="t", features=plain_spec, target="y", classes=["p", "q"])
    )
    frame = plain.to_frame([[1, 2]])
    assert frame.dtypes.tolist() == [np.float64, np.float64]
    frame = codec.to_frame([[1, 2, 0, 3]])
    assert frame["size"].dtype == np.float64 and frame["seats"].dtype == np.float64
    assert frame["plan"].tolist() == ["pro"]
