"""The data set of a training: loaded, checked against its contract, typed and split."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from petalflow.core.codec import RowCodec
from petalflow.core.contract import FeatureSpec, ModelContract
from petalflow.core.errors import DataContractError, InvalidSplitError
from petalflow.training.datasets import IRIS_FEATURES, IRIS_TARGET, RawTable, iris_frame, load_raw
from petalflow.training.table import typed_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """A stratified train/test split."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


@dataclass(frozen=True)
class Dataset:
    """The data set as loaded once per training: its resolved contract, rows and split."""

    name: str
    features: tuple[FeatureSpec, ...]  # categories resolved
    target: str
    positive_class: str | None  # binary targets only
    X: pd.DataFrame
    y: pd.Series
    split: Split

    @functools.cached_property
    def sha256(self) -> str:
        """``dataset_sha256`` of its rows, computed once (the run's tag, a shared study's
        record and promotion's check all need it; ~1 s for 1,000,000 rows)."""
        return dataset_sha256(self.X, self.y)

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model order."""
        return [f.name for f in self.features]

    @property
    def plain(self) -> bool:
        """Whether every feature is a number that is never missing (Iris's pipeline shape)."""
        return all(f.numeric and not f.nullable for f in self.features)


# Rows hashed at a time: the numbers' bytes go to the hash block by block, not as one copy.
SHA_BLOCK_ROWS = 65536


def dataset_sha256(X: pd.DataFrame, y: pd.Series) -> str:
    """A stable fingerprint of the table as loaded: column names, values and labels.

    The bytes hashed: the names joined by ","; the numeric columns as one row-major
    float64 matrix; each text column's cells joined by "\\x1f" ("" for a gap); the
    labels joined by "\\n".
    """
    digest = hashlib.sha256()
    digest.update(",".join(X.columns).encode())
    numbers = X[[c for c in X.columns if X[c].dtype != object]]
    for start in range(0, len(numbers), SHA_BLOCK_ROWS):
        block = numbers.iloc[start : start + SHA_BLOCK_ROWS].to_numpy(dtype=np.float64)
        digest.update(np.ascontiguousarray(block).tobytes())
    for column in (c for c in X.columns if X[c].dtype == object):
        cells = X[column].to_numpy(dtype=object)
        text = np.where(pd.isna(cells), "", cells).tolist()
        digest.update("\x1f".join(map(str, text)).encode())
    digest.update("\n".join(y.astype(str).tolist()).encode())
    return digest.hexdigest()


def split_dataset(X: pd.DataFrame, y: pd.Series, test_size: float, seed: int) -> Split:
    """Stratified split; raises InvalidSplitError when a class would be empty on a side."""
    from sklearn.model_selection import train_test_split

    classes = sorted(set(y.unique()))  # a few values: not a Python object per row
    # Strata: each label's index among the sorted classes, the order scikit-learn gives the
    # labels themselves: the same split, without sorting every label as a string (1M: ~5 s).
    strata = pd.Categorical(y, categories=classes).codes
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=seed, stratify=strata
        )
    except ValueError as exc:
        raise InvalidSplitError(
            f"test size {test_size} cannot keep every class on both sides of the split "
            f"({len(y)} rows, {len(classes)} classes): {exc}; choose a value nearer 0.2"
        ) from None
    for side, labels in (("train", y_train), ("test", y_test)):
        missing = sorted(set(classes) - set(labels.unique()))
        if missing:
            raise InvalidSplitError(
                f"test size {test_size} leaves class {missing[0]!r} with no sample in the "
                f"{side} split; choose a value nearer 0.2"
            )
    return Split(X_train, X_test, y_train, y_test)


def _resolved(feature: FeatureSpec, column: pd.Series) -> FeatureSpec:
    """``feature`` with its categories listed (the observed ones, sorted, when not given)."""
    if feature.type != "category" or feature.categories is not None:
        return feature
    observed = sorted({str(v) for v in column.dropna()})
    return feature.model_copy(update={"categories": observed})


def _positive_class(raw: RawTable, classes: list[str]) -> str | None:
    wanted = raw.contract.positive_class
    if not classes:
        raise DataContractError(f"{raw.source}: no data rows (only a header); add rows")
    if len(classes) < 2:
        raise DataContractError(
            f"{raw.source}: target {raw.contract.target!r} has {len(classes)} class(es) "
            f"{classes}; a classifier needs at least 2"
        )
    if wanted is not None and (len(classes) != 2 or wanted not in classes):
        raise DataContractError(
            f"{raw.source}: positive_class {wanted!r} must be one of the 2 classes of a binary "
            f"target; {raw.contract.target!r} has {classes}"
        )
    if len(classes) != 2:
        return None
    return wanted if wanted is not None else classes[1]


def _release_arrow_memory() -> None:
    """Hand the pages Arrow's allocator keeps after the text table is freed back to the
    system: it keeps them for reuse (~280 MiB after a 1,000,000-row CSV), and they would
    sit under the model's fit, the training's peak."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def prepare(dataset: str, test_size: float, seed: int) -> Dataset:
    """Load, check and type the data set, and split it, once.

    DataContractError for a bad contract, TableError for a table that breaks it,
    InvalidSplitError for a bad ``test_size``.
    """
    raw = load_raw(dataset, seed)
    contract = raw.contract
    X, y = typed_table(raw.frame, contract.features, contract.target, raw.source, raw.rows)
    features = tuple(_resolved(f, X[f.name]) for f in contract.features)
    positive = _positive_class(raw, sorted(set(y.unique())))
    del raw  # the table as read: text cells, held by Arrow
    _release_arrow_memory()
    logger.info("data set %s: %d rows, %d features", contract.name, len(y), len(features))
    split = split_dataset(X, y, test_size, seed)
    return Dataset(contract.name, features, contract.target, positive, X, y, split)


# Enough training rows to verify a fast path on, few enough to keep contract.json small
# for a large table (Iris, wine, breast_cancer and penguins keep every row).
MAX_VERIFICATION_ROWS = 1000


def model_contract(dataset: Dataset, classes: Sequence[object]) -> ModelContract:
    """The served contract, with up to MAX_VERIFICATION_ROWS training rows (evenly
    spaced), encoded as the server holds them, to verify the fast path on."""
    contract = ModelContract(
        dataset=dataset.name,
        features=list(dataset.features),
        target=dataset.target,
        classes=[str(c) for c in classes],
        positive_class=dataset.positive_class,
    )
    n = len(dataset.X)
    picked = np.unique(np.linspace(0, n - 1, min(n, MAX_VERIFICATION_ROWS)).astype(np.intp))
    encoded = RowCodec(contract).encode_frame(dataset.X.iloc[picked])
    rows = [[None if np.isnan(v) else v for v in row] for row in encoded.tolist()]
    return ModelContract.model_validate({**contract.model_dump(), "verification_rows": rows})


# Iris, the default data set, as (features, species names), for callers that want it bare.
FEATURE_NAMES = IRIS_FEATURES


def load_dataset() -> tuple[pd.DataFrame, pd.Series]:
    """Iris as (features, species names); the row order is scikit-learn's."""
    frame = iris_frame()
    return frame[list(IRIS_FEATURES)], frame[IRIS_TARGET].rename(IRIS_TARGET)
