"""Contract inference: a first data contract for a CSV, for the user to review.

Each column gets a type from its cells (bool, int, float, else category when its
distinct values are few), its observed bounds or categories, and whether it has gaps.
A column that cannot be typed (all missing, or free text with too many distinct values)
is reported and listed under ``drop``, never guessed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from petalflow.core.contract import FALSE_TOKENS, TRUE_TOKENS, DataContract, FeatureSpec
from petalflow.core.errors import DataContractError
from petalflow.training.datasets import read_csv
from petalflow.training.table import missing_mask

logger = logging.getLogger(__name__)

# A text column is a category when it has at most this many distinct values, and at
# most half as many as it has values (an id or a free-text column has more).
MAX_CATEGORIES = 50


@dataclass(frozen=True)
class Inferred:
    """The inferred contract and one line per column that could not be typed."""

    contract: DataContract
    untyped: list[str] = field(default_factory=list)
    #: What training would refuse about the table itself (a target with one class).
    warnings: list[str] = field(default_factory=list)


def _number(value: float, integral: bool) -> float | int:
    return int(value) if integral else float(value)


def infer_feature(name: str, column: pd.Series) -> FeatureSpec | str:
    """The spec of ``column``, or why it cannot be typed."""
    missing = missing_mask(column)
    text = column[~missing].astype(str).str.strip()
    nullable = bool(missing.any())
    if text.empty:
        return f"column {name!r} has no values; fill it or leave it out"
    lowered = set(text.str.lower())
    if lowered <= (TRUE_TOKENS | FALSE_TOKENS) - {"1", "0", "1.0", "0.0"}:
        return FeatureSpec(name=name, type="bool", nullable=nullable)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    if np.isfinite(numbers).all():
        # "181.0" beside gaps is how pandas writes a column of whole numbers with gaps
        # (it holds them as floats): an int like the rest, as penguins' flipper length.
        whole = r"[+-]?\d+(\.0*)?" if nullable else r"[+-]?\d+"
        integral = bool(text.str.fullmatch(whole).all())
        low, high = (_number(v, integral) for v in (numbers.min(), numbers.max()))
        if integral:
            return FeatureSpec(name=name, type="int", ge=low, le=high, nullable=nullable)
        return FeatureSpec(name=name, type="float", ge=low, le=high, nullable=nullable)
    if stray := _stray_text(name, text, numbers):
        return stray
    distinct = sorted(set(text))
    if len(distinct) > MAX_CATEGORIES or len(distinct) > len(text) / 2:
        return (
            f"column {name!r} has {len(distinct)} distinct text values in {len(text)} rows: "
            "not a number and too many for a category; listed under drop"
        )
    return FeatureSpec(name=name, type="category", categories=distinct, nullable=nullable)


# A column of numbers with at most this many text values (and 90 % numbers) is reported
# as numbers with stray text, not typed as a category or dropped as free text.
STRAY_VALUES = 5


def _stray_text(name: str, text: pd.Series, numbers: np.ndarray) -> str | None:
    """Why a column of numbers with a few text values is left untyped, or None."""
    stray = text[~np.isfinite(numbers)]
    if not 0 < len(stray) <= STRAY_VALUES or len(stray) > 0.1 * len(text):
        return None
    shown = ", ".join(f"{value!r} in data row {int(row) + 1}" for row, value in stray.items())
    return (
        f"column {name!r} is numbers except {len(stray)} value(s) ({shown}); fix them or "
        "make them empty, then infer again (or declare the column a category in the "
        "contract); listed under drop"
    )


def _unnamed(name: str) -> str | None:
    """Why a column with no name in the header (pandas calls it ``Unnamed: <i>``: often a
    saved index, whose numbers would look like a feature) is left untyped, or None."""
    if not re.fullmatch(r"Unnamed: \d+", name):
        return None
    return (
        f"column {name!r} has no name in the header (an index saved with the table?); "
        "listed under drop: name it in the CSV to use it as a feature"
    )


def infer_contract(
    csv: Path, target: str, contract_dir: Path | None = None, drop: Sequence[str] = ()
) -> Inferred:
    """A contract for ``csv`` with ``target``, ``drop`` columns left out; ``source`` is
    relative to ``contract_dir`` (where the contract will be saved; default: the working
    directory)."""
    frame = read_csv(csv)
    columns = ", ".join(map(repr, frame.columns))
    if target not in frame.columns:
        raise DataContractError(f"--target: no column {target!r} in {csv}; it has {columns}")
    unknown = [c for c in drop if c not in frame.columns or c == target]
    if unknown:
        raise DataContractError(
            f"--drop: {unknown[0]!r} is not a column besides the target in {csv}; it has {columns}"
        )
    features: list[FeatureSpec] = []
    untyped: list[str] = []
    drop = list(drop)
    for name in (c for c in frame.columns if c != target and c not in drop):
        spec = _unnamed(str(name)) or infer_feature(str(name), frame[name])
        if isinstance(spec, str):
            untyped.append(spec)
            drop.append(str(name))
        else:
            features.append(spec)
    if not features:
        raise DataContractError(f"{csv}: no column besides {target!r} could be typed")
    source = os.path.relpath(csv.resolve(), (contract_dir or Path.cwd()).resolve())
    contract = DataContract(
        name=csv.stem, source=source, target=target, drop=drop, features=features
    )
    classes = sorted({str(v) for v in frame[target].dropna()})
    warnings = []
    if len(classes) < 2:
        warnings.append(
            f"the target {target!r} has {len(classes)} class(es) {classes[:5]}: a classifier "
            "needs at least 2, so training will refuse this table as it is"
        )
    return Inferred(contract, untyped, warnings)


def contract_document(contract: DataContract) -> dict[str, Any]:
    """The contract as a YAML-ready mapping: unset keys left out, features in order."""
    document = contract.model_dump(mode="json", exclude_none=True)
    document["features"] = [
        {
            k: (int(v) if f["type"] == "int" and k in ("ge", "le") else v)
            for k, v in f.items()
            if not (k == "nullable" and v is False)
        }
        for f in document["features"]
    ]
    if not document.get("drop"):
        document.pop("drop", None)
    return document
