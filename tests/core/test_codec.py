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
