"""The data sets ``--dataset`` names: the built-in ones, or a contract file describing a CSV.

Each loader returns the raw table and its data contract; ``petalflow.training.table``
checks and types it. Data come only from scikit-learn, palmerpenguins or a generator.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from petalflow.core.contract import DataContract, FeatureSpec, parse_data_contract
from petalflow.core.errors import DataContractError
from petalflow.training.table import Rows

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "iris"
IRIS_FEATURES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")
IRIS_TARGET = "species"
# Every Iris feature is a length in cm, positive and at most 1 m.
IRIS_DESCRIPTION = "cm, in (0, 100]"
SYNTHETIC_ROWS = 1000
CONTRACT_SUFFIXES = (".yaml", ".yml", ".json")
BUILT_IN_ROWS = Rows(unit="row", first=0)  # a built-in table's rows count from 0


@dataclass(frozen=True)
class RawTable:
    """A table as loaded, before checking: its contract, its cells, how rows are named."""

    contract: DataContract
    frame: pd.DataFrame
    source: str  # where the table came from, for messages
    rows: Rows = BUILT_IN_ROWS


def _built_in(name: str, frame: pd.DataFrame, target: str, features: list[FeatureSpec]) -> RawTable:
    contract = DataContract(name=name, source=name, target=target, features=features)
    return RawTable(contract, frame, f"the {name} data set")


def iris_frame() -> pd.DataFrame:
    """Iris as scikit-learn orders it: the four measurements and the species names."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    frame = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=list(IRIS_FEATURES))
    frame[IRIS_TARGET] = np.asarray(bunch.target_names)[bunch.target].astype(str)
    return frame


def _iris(seed: int) -> RawTable:
    bounds = {"gt": 0.0, "le": 100.0, "description": IRIS_DESCRIPTION}
    features = [FeatureSpec(name=n, type="float", **bounds) for n in IRIS_FEATURES]  # type: ignore[arg-type]
    return _built_in("iris", iris_frame(), IRIS_TARGET, features)


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _sklearn(name: str, loader: Callable[..., object]) -> RawTable:
    bunch = loader()
    names = [_snake(str(n)) for n in bunch.feature_names]  # type: ignore[attr-defined]
    frame = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=names)  # type: ignore[attr-defined]
    labels = np.asarray(bunch.target_names)[bunch.target]  # type: ignore[attr-defined]
    frame["target"] = labels.astype(str)
    # Every measurement in both data sets is a non-negative quantity.
    features = [FeatureSpec(name=n, type="float", ge=0.0) for n in names]
    return _built_in(name, frame, "target", features)


def _wine(seed: int) -> RawTable:
    from sklearn.datasets import load_wine

    return _sklearn("wine", load_wine)


def _breast_cancer(seed: int) -> RawTable:
    from sklearn.datasets import load_breast_cancer

    return _sklearn("breast_cancer", load_breast_cancer)


def _penguins(seed: int) -> RawTable:
    from palmerpenguins import load_penguins

    frame = load_penguins()
    measure = {"type": "float", "gt": 0.0, "nullable": True}
    features = [
        FeatureSpec(name="island", type="category", categories=["Biscoe", "Dream", "Torgersen"]),
        FeatureSpec(name="bill_length_mm", **measure),  # type: ignore[arg-type]
        FeatureSpec(name="bill_depth_mm", **measure),  # type: ignore[arg-type]
        FeatureSpec(name="flipper_length_mm", **{**measure, "type": "int"}),  # type: ignore[arg-type]
        FeatureSpec(name="body_mass_g", **{**measure, "type": "int"}),  # type: ignore[arg-type]
        FeatureSpec(name="sex", type="category", categories=["female", "male"], nullable=True),
    ]
    contract = DataContract(
        name="penguins", source="palmerpenguins", target="species", drop=["year"], features=features
    )
    return RawTable(contract, frame, "the penguins data set")


def synthetic_frame(seed: int, n: int = SYNTHETIC_ROWS) -> pd.DataFrame:
    """The brief's rule: label = 1 if feature1 > 50 and feature2 > 0, else 0."""
    rng = np.random.default_rng(seed)
    feature1 = rng.uniform(0.0, 100.0, size=n)
    feature2 = rng.uniform(-50.0, 50.0, size=n)
    label = ((feature1 > 50) & (feature2 > 0)).astype(int)
    return pd.DataFrame({"feature1": feature1, "feature2": feature2, "label": label})


def _synthetic(seed: int) -> RawTable:
    features = [
        FeatureSpec(name="feature1", type="float", ge=0.0, le=100.0),
        FeatureSpec(name="feature2", type="float", ge=-50.0, le=50.0),
    ]
    return _built_in("synthetic", synthetic_frame(seed), "label", features)


BUILT_IN: dict[str, Callable[[int], RawTable]] = {
    "iris": _iris,
    "wine": _wine,
    "breast_cancer": _breast_cancer,
    "penguins": _penguins,
    "synthetic": _synthetic,
}


def read_contract(path: Path) -> DataContract:
    """The data contract in ``path`` (YAML, or JSON); DataContractError naming the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataContractError(f"cannot read the contract {path}: {exc}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)  # YAML's; JSON's message has its own
        if mark is not None:
            detail = (
                f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', detail)}"
            )
        raise DataContractError(f"{path} is not valid YAML/JSON: {detail}") from None
    return parse_data_contract(document, str(path))


def read_csv(path: Path) -> pd.DataFrame:
    """Every cell as text (typing is the contract's job); DataContractError if unreadable.

    Arrow's parser reads first (on all cores; 1,000,000 rows of 20 columns in ~2 s where
    pandas' own takes ~14 s). Where both read a file they give the same frame; a file
    Arrow refuses (a short or long row, a stray quote, bad UTF-8) is read again by
    pandas' parser, whose reading and errors stay the reference.
    """
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, "encoding": "utf-8"}
    _check_header(path)
    try:
        return pd.read_csv(path, engine="pyarrow", **options)
    except Exception:  # any refusal: pandas' parser decides, and words the error
        logger.debug("Arrow's CSV parser refused %s; reading it with pandas' parser", path)
    try:
        return pd.read_csv(path, **options)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise DataContractError(f"cannot read the CSV {path}: {exc}") from None


def _check_header(path: Path) -> None:
    """DataContractError if the header names a column twice: both parsers would rename
    the second (``a.1``), a column the file does not have."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # the parsers word the error
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if repeated:
        raise DataContractError(
            f"cannot read the CSV {path}: its header names {', '.join(map(repr, repeated))} "
            "more than once; give each column its own name"
        )


def _from_contract(path: Path) -> RawTable:
    contract = read_contract(path)
    csv = (path.parent / contract.source).resolve()
    if not csv.is_file():
        raise DataContractError(
            f"{path}: source: no file {csv} (paths are relative to the contract file)"
        )
    frame = read_csv(csv)
    if contract.target not in frame.columns:  # a typo: say so, not that a column is extra
        raise DataContractError(
            f"{path}: target: the CSV has no column {contract.target!r}; its columns are "
            f"{list(frame.columns)}"
        )
    known = {contract.target, *contract.drop, *contract.feature_names}
    problems = []
    if unknown := [c for c in frame.columns if c not in known]:
        problems.append(
            f"the CSV has column(s) {unknown} the contract does not mention; "
            "list each under features or drop"
        )
    if absent := [name for name in contract.feature_names if name not in frame.columns]:
        problems.append(f"missing column(s) {absent} (features of the contract)")
    if problems:  # both at once: a renamed column is one of each
        raise DataContractError(f"{path}: {'; '.join(problems)}")
    return RawTable(contract, frame, str(csv), Rows(unit="line", first=2))


def is_contract_path(value: str) -> bool:
    """Whether ``value`` names a contract file rather than a built-in data set."""
    return value not in BUILT_IN and value.lower().endswith(CONTRACT_SUFFIXES)


def load_raw(dataset: str, seed: int) -> RawTable:
    """The raw table ``--dataset`` names; DataContractError for anything else."""
    if dataset in BUILT_IN:
        return BUILT_IN[dataset](seed)
    if not is_contract_path(dataset):
        choices = ", ".join(BUILT_IN)
        hint = ""
        if dataset.lower().endswith(".csv"):  # a table: it needs a contract first
            hint = (
                f"; write one for it with `python -m petalflow contract infer {dataset} "
                f"--target COLUMN --output {dataset[:-4]}.yaml`, review it, and pass that"
            )
        raise DataContractError(
            f"{dataset!r} is neither a built-in data set ({choices}) nor a contract file "
            f"({', '.join(CONTRACT_SUFFIXES)}){hint}"
        )
    path = Path(dataset)
    if not path.is_file():
        raise DataContractError(f"no contract file {path}; give an existing .yaml or .json path")
    return _from_contract(path)
