"""What made the scale benchmark's training fast keeps its results: a table of Arrow
strings (as read_csv gives it) is typed by Arrow's kernels exactly as the same table of
Python objects is typed cell by cell (values, signs of zero, gaps, errors), and Arrow's
CSV reader gives pandas' frame wherever it reads a file at all."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from petalflow.core.contract import FeatureSpec
from petalflow.core.errors import TableError
from petalflow.training.datasets import read_csv
from petalflow.training.table import Rows, arrow_text, missing_mask, typed_table

GAPS = ["", " ", "NA", " na ", "N/A", "nan", "null", "None", "<NA>"]
VALID = {
    "float": ["0", "-0", "-0.0", "+0", "1", "1.5", "-3", "1e3", "1E-3", ".5", "5.", "\xa01\xa0",
              "\u30001", "\x1f2", "  +7  ", "07", "0.1000000000000000055511151231257827",
              "4.9e-324", "99999999999999999999"],
    "int": ["0", "-0", "-00", "+0", "-0.0", "1", "2", "07", "1.0", "1e2", "  +7  ", "-5", "100",
            "99999999999999999999"],
    "bool": ["true", "TRUE", "yes", "No", "0", "1", "1.0", "0.0", "False", " yes\t"],
    "category": ["basic", " basic ", "plus", "pro", "\x1fpro", "größe", "\u212a", "k", "\u0130"],
    "target": ["a", "b", " a", "b\xa0"],
}  # fmt: skip
INVALID = {
    "float": ["inf", "-Infinity", "1e400", "x", "1,5", "0x10", "1_0"],
    "int": ["1.5", "three", "1e400"],
    "bool": ["2", "maybe", "-1"],
    "category": ["gold", "NaN"],
    "target": ["", "NA"],
}  # fmt: skip


def _table(rng: random.Random) -> tuple[dict[str, list[str]], list[FeatureSpec]]:
    """A random table: a lenient contract over valid cells and gaps, or a strict one
    (bounds, categories, no gaps allowed) over any cells."""
    n = rng.randint(1, 12)
    lenient = rng.random() < 0.5
    columns = {}
    for kind, valid in VALID.items():
        cells = valid + (GAPS if kind != "target" else [])
        if not lenient:
            cells += INVALID[kind]
        pool = rng.sample(cells, rng.randint(1, min(6, len(cells))))
        columns[kind] = [rng.choice(pool) for _ in range(n)]
    specs = [
        FeatureSpec(name="float", type="float", nullable=lenient, **({} if lenient else {"ge": 0})),
        FeatureSpec(name="int", type="int", nullable=lenient, **({} if lenient else {"le": 50})),
        FeatureSpec(name="bool", type="bool", nullable=lenient),
        FeatureSpec(
            name="category",
            type="category",
            nullable=lenient,
            categories=None if lenient else ["basic", "plus", "pro"],
        ),
    ]
    return columns, specs


def _typed(frame: pd.DataFrame, specs: list[FeatureSpec]) -> tuple[pd.DataFrame, pd.Series] | str:
    try:
        return typed_table(frame, specs, "target", "t.csv", Rows())
    except TableError as exc:
        return str(exc)


@pytest.mark.parametrize("seed", range(4))
def test_arrow_strings_are_typed_exactly_as_python_objects(seed: int) -> None:
    rng = random.Random(seed)
    typed = errors = 0
    for _ in range(150):
        columns, specs = _table(rng)
        arrow = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in columns.items()})
        objects = arrow.astype(object)
        assert arrow_text(arrow["float"]) is not None and arrow_text(objects["float"]) is None
        fast, slow = _typed(arrow, specs), _typed(objects, specs)
        for name in columns:
            assert np.array_equal(missing_mask(arrow[name]), missing_mask(objects[name]))
        if isinstance(slow, str):
            assert fast == slow
            errors += 1
            continue
        assert not isinstance(fast, str), (fast, columns)
        pd.testing.assert_frame_equal(fast[0], slow[0], check_exact=True)
        pd.testing.assert_series_equal(fast[1], slow[1], check_exact=True)
        for name in ("float", "int", "bool"):  # the same bits: -0.0 and 0.0 differ
            bits = [x[0][name].to_numpy().view(np.int64) for x in (fast, slow)]
            assert np.array_equal(*bits), (name, columns[name])
        typed += 1
    assert typed > 30 and errors > 30  # both outcomes are exercised


CSVS = {
    "plain": "a,b\n1,x\n2,y\n",
    "quoted": 'a,b\n"1,5","he said ""hi"""\n"x\ny",2\n',
    "bom and blank lines": "\ufeffa,b\n\n1,2\n\n3,4\n",
    "empty names": "a,,b\n1,2,3\n",  # a repeated name is refused (test_datasets)
    "crlf, spaces, tokens": "a, b\r\n 1 ,NA\r\nnull,\r\n",
    "short row": "a,b,c\n1,2\n4,5,6\n",
    "long rows": "a,b\n1,2,3\n4,5,6\n",
    "blank-looking line": "a,b\n   \n1,2\n",
    "stray quote": "a,b\n'x,y',2\n",
}


@pytest.mark.parametrize("name", CSVS)
def test_read_csv_gives_pandas_own_reading(name: str, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSVS[name], encoding="utf-8")
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    pd.testing.assert_frame_equal(read_csv(path), expected, check_exact=True)
