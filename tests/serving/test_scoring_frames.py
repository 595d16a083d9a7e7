"""CSV and parquet bodies, read as `mlflow models serve` reads them (pandas, the
signature's types, MLflow's column type rules for parquet)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest

from petalflow.core.contract import FeatureSpec
from petalflow.core.errors import ClientError, TooManyRowsError
from petalflow.serving.duplicate_keys import DuplicateKeyError, duplicate_key_error
from petalflow.serving.scoring_frames import csv_table, parquet_table
from petalflow.serving.scoring_tables import ScoringError

SPECS = (
    FeatureSpec(name="island", type="category", categories=["Biscoe", "Dream"]),
    FeatureSpec(name="mass", type="float", nullable=True),
)


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out)
    return out.getvalue()


def _refused(read: Any, body: bytes) -> ScoringError:
    with pytest.raises(ScoringError) as caught:
        read(body, SPECS)
    assert caught.value.status == 400
    return caught.value


def test_csv_table_reads_the_header_and_the_signature_types() -> None:
    table = csv_table(b"mass,island,id\n3750,Dream,7\n,Biscoe,8\n", SPECS)
    assert table.rows == 2 and table.source == "csv"
    assert list(table.columns) == ["mass", "island", "id"]
    mass = table.columns["mass"]
    assert mass[0] == 3750.0 and type(mass[0]) is float and np.isnan(mass[1])
    assert table.columns["island"] == ["Dream", "Biscoe"]
    assert table.columns["id"] == []  # not a feature: only its name is kept


def test_csv_table_reads_quoted_values_and_an_index_column() -> None:
    body = pd.DataFrame({"island": ["Dream"], "mass": [3.5]}).to_csv().encode()
    table = csv_table(body, SPECS)
    assert list(table.columns) == ["Unnamed: 0", "island", "mass"]
    assert table.columns["mass"] == [3.5]
    quoted = csv_table(b'"island","mass"\n"Dream","3.5"\n', SPECS)
    assert quoted.columns == {"island": ["Dream"], "mass": [3.5]}


def test_csv_table_reads_a_gap_in_a_category_column_as_null() -> None:
    assert csv_table(b"island,mass\n,3\n", SPECS).columns["island"] == [None]


@pytest.mark.parametrize(
    ("body", "booleans"),
    [
        (b"island,mass\nDream,True\nBiscoe,False\n", [True, False]),
        (b"island,mass\nDream,TRUE\nBiscoe,FALSE\n", [True, False]),
        (b"island,mass\nDream,true\nBiscoe,false\n", [True, False]),
        (b'island,mass\nDream,"true"\nBiscoe,"False"\n', [True, False]),
        (b"island,mass\nDream,3.5\nBiscoe,false\n", [False]),  # mixed: no parse error
        (b"island,mass\nDream,true\nBiscoe,\n", [True]),
    ],
    ids=["title", "upper", "lower", "quoted", "mixed", "with-gap"],
)
def test_csv_table_keeps_booleans_in_a_number_column_as_booleans(
    body: bytes, booleans: list[bool]
) -> None:
    mass = csv_table(body, SPECS).columns["mass"]
    assert [v for v in mass if type(v) is bool] == booleans  # never 1.0 and 0.0


def test_csv_table_leaves_boolean_words_in_a_category_column_as_text() -> None:
    table = csv_table(b"island,mass,note\nTrue,3.5,false\n", SPECS)
    assert table.columns["island"] == ["True"]
    assert table.columns["mass"] == [3.5]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "Failed to parse input as a Pandas DataFrame"),
        (b"island,mass\nDream,heavy\n", "Failed to parse input as a Pandas DataFrame"),
        (b"island,mass\nDream,1\nDream,1,2,3\n", "Failed to parse input as a Pandas DataFrame"),
        (b"island,mass\nDream,\xff\n", "not valid UTF-8"),
        (b"island,mass\n3,Dream,1\n", "one field more than the header"),
    ],
)
def test_csv_table_refuses_what_cannot_be_read_as_bad_request(body: bytes, words: str) -> None:
    error = _refused(csv_table, body)
    assert error.mlflow_code == "BAD_REQUEST"
    assert words in error.message


def test_csv_table_names_the_column_and_row_of_text_in_a_number_column() -> None:
    error = _refused(csv_table, b"island,mass\nDream,3.5\nBiscoe,3.7\nDream,heavy\n")
    assert error.message == (
        "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
        "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` "
        "method: could not convert string to float: 'heavy' (column 'mass', row 2: 'heavy')"
    )
    assert (error.details[0]["field"], error.details[0]["rule"]) == ("csv.2.mass", "float_parsing")


@pytest.mark.parametrize(
    ("body", "repeats"),
    [
        (b"island,mass,mass\nDream,3.5,6.0\n", [("mass", 2)]),
        (b'"island","mass","island"\nDream,3.5,Biscoe\n', [("island", 2)]),
        (b"id,mass,id,island,id\n1,3.5,2,Dream,3\n", [("id", 3)]),  # no feature: still a guess
        (b"\nisland,mass,mass,mass.1\nDream,3.5,6.0,7\n", [("mass", 2)]),  # blank line first
        (b'island,mass,"a\nb","a\nb"\nDream,3.5,1,2\n', [("a\nb", 2)]),  # renamed "a\nb.1"
    ],
    ids=["feature", "quoted", "thrice", "after-blank-line", "newline-in-a-name"],
)
def test_csv_table_refuses_a_column_the_header_repeats(
    body: bytes, repeats: list[tuple[str, int]]
) -> None:
    with pytest.raises(DuplicateKeyError, match="in the CSV header; send each column") as caught:
        csv_table(body, SPECS)
    expected = duplicate_key_error(repeats, unit="column", place="the CSV header")
    assert caught.value.details == expected.details
    assert caught.value.mlflow_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "body",
    [b"island,mass,mass.1\nDream,3.5,6.0\n", b",,island,mass\n1,2,Dream,3.5\n"],
    ids=["named-like-a-rename", "unnamed-columns"],
)
def test_csv_table_takes_distinct_header_names(body: bytes) -> None:
    table = csv_table(body, SPECS)
    assert table.columns["mass"] == [3.5] and table.columns["island"] == ["Dream"]


@pytest.mark.parametrize(
    "mass",
    [
        pd.Series([3.5, np.nan], dtype="float64"),
        pd.Series([3.5, 4.0], dtype="float32"),
        pd.Series([3, 4], dtype="int32"),
        pd.Series([3, 4], dtype="uint16"),
        pd.Series([0, 1], dtype="int64"),  # 64-bit integers only as 0 and 1
        pd.Series([None, None], dtype=object),  # all null: MLflow reads it as numbers
    ],
    ids=["float64", "float32", "int32", "uint16", "int64-0-1", "all-null"],
)
def test_parquet_table_takes_the_column_types_mlflow_takes(mass: pd.Series) -> None:
    frame = pd.DataFrame({"island": ["Dream", "Biscoe"], "mass": mass})
    table = parquet_table(_parquet(frame), SPECS)
    assert table.rows == 2 and table.source == "parquet"
    expected = [None if pd.isna(v) else float(v) for v in mass]
    assert [None if v is None or np.isnan(v) else v for v in table.columns["mass"]] == expected
    assert table.columns["island"] == ["Dream", "Biscoe"]


@pytest.mark.parametrize(
    ("island", "mass", "column"),
    [
        (["Dream"], pd.Series([3], dtype="int64"), "mass"),
        (["Dream"], pd.Series(["3.5"]), "mass"),
        (["Dream"], pd.Series([True]), "mass"),
        ([1.5], pd.Series([3.5]), "island"),
    ],
    ids=["int64", "text", "bool", "number-as-category"],
)
def test_parquet_table_refuses_the_column_types_mlflow_refuses(
    island: list[Any], mass: pd.Series, column: str
) -> None:
    body = _parquet(pd.DataFrame({"island": island, "mass": mass}))
    error = _refused(parquet_table, body)
    assert error.mlflow_code == "INVALID_PARAMETER_VALUE"
    assert f"Incompatible input types for column {column}" in error.message


def test_parquet_table_refuses_bytes_that_are_no_parquet() -> None:
    error = _refused(parquet_table, b"PAR1 but not really")
    assert error.mlflow_code == "BAD_REQUEST"
    assert "Failed to parse input as a Pandas DataFrame" in error.message


def test_csv_table_reads_a_bool_feature_as_the_training_csv_spells_it() -> None:
    # The CSV a model was trained on is scorable as it is: training reads yes/no, 1/0,
    # true/false in any case; a cell that is none of them is left for the contract to
    # refuse, naming the field and row.
    specs = (FeatureSpec(name="active", type="bool", nullable=True),)
    # With and without a spelling pandas reads as a boolean (True) elsewhere in the body:
    # pandas' float read would otherwise turn 1 and 0 into 1.0 and 0.0, and fail on yes.
    for extra in (b"", b"True\nfalse\n"):
        body = b"active\nyes\nNO\n 1 \n0.0\nmaybe\nNA\n2\n" + extra
        cells = csv_table(body, specs).columns["active"]
        assert cells[:4] == [True, False, True, False]
        assert cells[4] == "maybe" and cells[6] == "2"
        assert cells[5] is None  # "NA": a gap
        assert cells[7:] == ([True, False] if extra else [])


def test_parquet_table_names_the_other_columns_without_reading_them() -> None:
    # a stored (non-range) index is no column; "note" is named, its text never decoded
    frame = pd.DataFrame(
        {"note": ["x" * 1000, "y"], "mass": [3.5, 4.0], "island": ["Dream", "Biscoe"]},
        index=[7, 9],
    )
    table = parquet_table(_parquet(frame), SPECS)
    assert table.columns == {"note": [], "mass": [3.5, 4.0], "island": ["Dream", "Biscoe"]}
    assert list(table.columns) == ["note", "mass", "island"]
    assert table.rows == 2


def _reads_recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], bool]]:
    """The (columns, use_pandas_metadata) of every ParquetFile.read from now on."""
    import pyarrow.parquet as pq

    calls: list[tuple[list[str], bool]] = []
    read = pq.ParquetFile.read

    def recorded(self: Any, columns: list[str], use_pandas_metadata: bool = False) -> Any:
        calls.append((list(columns), use_pandas_metadata))
        return read(self, columns=columns, use_pandas_metadata=use_pandas_metadata)

    monkeypatch.setattr(pq.ParquetFile, "read", recorded)
    return calls


def test_parquet_table_never_decodes_a_stored_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # pandas' metadata (the client's) names an index column: read with it, pyarrow decoded
    # that column whole, however large (2 KB of body: +527 MB)
    frame = pd.DataFrame({"mass": [1.0, 2.0], "note": ["x" * 1000, "y"]}).set_index("note")
    calls = _reads_recorded(monkeypatch)
    table = parquet_table(_parquet(frame), SPECS)
    assert calls == [(["mass"], False)]
    assert table.columns == {"mass": [1.0, 2.0]} and table.rows == 2


def test_parquet_table_refuses_text_in_a_number_column_before_decoding_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _reads_recorded(monkeypatch)
    error = _refused(parquet_table, _parquet(pd.DataFrame({"mass": ["x" * 100] * 3})))
    assert calls == []
    assert (
        error.message
        == "Incompatible input types for column mass: can not safely convert str to double"
    )


def test_parquet_table_refuses_feature_columns_that_decode_too_large() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()  # no dictionary: the text is stored (and decoded) row by row
    columns = {"island": pa.array(["x" * 1000] * 3), "mass": pa.array([1.0, 2.0, 3.0])}
    pq.write_table(pa.table(columns), out, use_dictionary=False, compression="zstd")
    with pytest.raises(
        ClientError,
        match=r"^parquet: the feature columns decode to \d+ bytes, more "
        r"than 256 bytes a cell \(1536 bytes\); send fewer rows",
    ) as caught:
        parquet_table(out.getvalue(), SPECS, max_rows=3)
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
    assert parquet_table(out.getvalue(), SPECS, max_rows=30).rows == 3  # 15,360 bytes allowed


def test_parquet_table_refuses_too_many_rows_before_reading_them() -> None:
    body = _parquet(pd.DataFrame({"island": ["Dream"] * 3, "mass": [1.0, 2.0, 3.0]}))
    with pytest.raises(TooManyRowsError) as caught:
        parquet_table(body, SPECS, max_rows=2)
    assert caught.value.status == 413
    assert "3" in caught.value.message and "2" in caught.value.message
    assert parquet_table(body, SPECS, max_rows=3).rows == 3


def test_parquet_table_refuses_a_repeated_column_name() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    columns = [pa.array(["Dream"]), pa.array([1.0]), pa.array([2.0])]
    pq.write_table(pa.Table.from_arrays(columns, names=["island", "mass", "mass"]), out)
    error = _refused(parquet_table, out.getvalue())
    assert error.details[0]["rule"] == "duplicate_key"
    assert error.mlflow_code == "INVALID_PARAMETER_VALUE"
