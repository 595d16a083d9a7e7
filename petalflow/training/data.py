"""The data set: Iris with snake_case feature names and species-name targets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.core.errors import InvalidSplitError

logger = logging.getLogger(__name__)

DATASET_NAME = "iris"
FEATURE_NAMES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")
TARGET_NAME = "species"
# The contract's facts about every Iris feature: a length in cm, positive and at most 1 m
# (pydantic's gt/le names, as the server's request schema uses them).
FEATURE_BOUNDS = MappingProxyType({"gt": 0.0, "le": 100.0})
FEATURE_DESCRIPTION = "cm, in (0, 100]"


@dataclass(frozen=True)
class Split:
    """A stratified train/test split."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


@dataclass(frozen=True)
class Dataset:
    """The data set as loaded once per training: every row, and its split."""

    X: pd.DataFrame
    y: pd.Series
    split: Split


def load_dataset() -> tuple[pd.DataFrame, pd.Series]:
    """Iris as (features, species names); the row order is scikit-learn's."""
    # Imported here: the API imports this module for FEATURE_NAMES and starts faster.
    from sklearn.datasets import load_iris

    bunch = load_iris()
    X = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=list(FEATURE_NAMES))
    names = np.asarray(bunch.target_names)[bunch.target]
    y = pd.Series(names.astype(str), name=TARGET_NAME)
    return X, y


def dataset_sha256(X: pd.DataFrame, y: pd.Series) -> str:
    """A stable fingerprint of the full data set: column names, values and labels."""
    digest = hashlib.sha256()
    digest.update(",".join(X.columns).encode())
    digest.update(np.ascontiguousarray(X.to_numpy(dtype=np.float64)).tobytes())
    digest.update("\n".join(y.astype(str)).encode())
    return digest.hexdigest()


def split_dataset(X: pd.DataFrame, y: pd.Series, test_size: float, seed: int) -> Split:
    """Stratified split; raises InvalidSplitError when a class would be empty on a side."""
    from sklearn.model_selection import train_test_split

    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=seed, stratify=y
        )
    except ValueError as exc:
        raise InvalidSplitError(
            f"test size {test_size} cannot keep every class on both sides of the split "
            f"({len(y)} rows, {y.nunique()} classes): {exc}; choose a value nearer 0.2"
        ) from None
    for side, labels in (("train", y_train), ("test", y_test)):
        missing = sorted(set(y) - set(labels))
        if missing:
            raise InvalidSplitError(
                f"test size {test_size} leaves class {missing[0]!r} with no sample in the "
                f"{side} split; choose a value nearer 0.2"
            )
    return Split(X_train, X_test, y_train, y_test)


def prepare(test_size: float, seed: int) -> Dataset:
    """Load the data set and split it, once; InvalidSplitError for a bad ``test_size``."""
    X, y = load_dataset()
    return Dataset(X, y, split_dataset(X, y, test_size, seed))


def model_contract(X: pd.DataFrame, classes: Sequence[object]) -> ModelContract:
    """The contract of a model trained on Iris; every row of ``X`` verifies the fast path."""
    features = list(FEATURE_NAMES)
    return numeric_contract(
        dataset=DATASET_NAME,
        feature_names=features,
        classes=[str(c) for c in classes],
        target=TARGET_NAME,
        bounds=dict(FEATURE_BOUNDS),
        description=FEATURE_DESCRIPTION,
        verification_rows=X[features].to_numpy(dtype=np.float64).tolist(),
    )
