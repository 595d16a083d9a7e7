"""The scale benchmark's baseline: what a plain script does to train the same model.

Reads the CSV with ``pandas.read_csv`` (its defaults), makes the booleans 0/1, splits it
as train.py does (stratified, 20 % test, seed 42) and fits the ColumnTransformer
pipeline of SPEC 7 with the same LogisticRegression. It reads the contract only to
know which column is which; nothing of petalflow is imported. Prints one JSON line:
the DataFrame's memory (``memory_usage(deep=True)``) and the time of each step.

    python bench/scale_baseline.py DATA.yaml
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED, TEST_SIZE, C, MAX_ITER = 42, 0.2, 1.0, 1000  # train.py's defaults


def column_transformer(features: list[dict[str, Any]]) -> ColumnTransformer:
    """Numbers: (median imputer +) scaler; categories: (most frequent +) one-hot."""

    def names(category: bool, nullable: bool) -> list[str]:
        return [
            f["name"]
            for f in features
            if (f["type"] == "category") == category and bool(f.get("nullable")) == nullable
        ]

    def one_hot(columns: list[str]) -> OneHotEncoder:
        known = {f["name"]: f["categories"] for f in features if f["type"] == "category"}
        return OneHotEncoder(
            categories=[known[c] for c in columns], handle_unknown="ignore", sparse_output=False
        )

    numeric, numeric_gaps = names(False, False), names(False, True)
    category, category_gaps = names(True, False), names(True, True)
    parts = [
        ("numeric", StandardScaler(), numeric),
        (
            "numeric_imputed",
            Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
            numeric_gaps,
        ),
        ("category", one_hot(category), category),
        (
            "category_imputed",
            Pipeline(
                [
                    ("impute", SimpleImputer(strategy="most_frequent")),
                    ("encode", one_hot(category_gaps)),
                ]
            ),
            category_gaps,
        ),
    ]
    return ColumnTransformer(
        [part for part in parts if part[2]], remainder="drop", sparse_threshold=0.0
    )


def main(contract_path: Path) -> dict[str, float]:
    contract = yaml.safe_load(contract_path.read_text())
    features = contract["features"]
    began = time.perf_counter()
    frame = pd.read_csv(contract_path.parent / contract["source"])
    read = time.perf_counter()
    memory = int(frame.memory_usage(deep=True).sum())
    X = frame[[f["name"] for f in features]].copy()
    for f in features:
        if f["type"] == "bool":  # read as True/False (object where there are gaps)
            X[f["name"]] = X[f["name"]].astype("float64")
    y = frame[contract["target"]].astype(str)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SEED, stratify=y
    )
    split = time.perf_counter()
    classifier = LogisticRegression(C=C, max_iter=MAX_ITER, random_state=SEED)
    Pipeline([("preprocess", column_transformer(features)), ("classifier", classifier)]).fit(
        X_train, y_train
    )
    fitted = time.perf_counter()
    return {
        "dataframe_bytes": memory,
        "rows": len(frame),
        "read_s": read - began,
        "prepare_s": split - read,
        "fit_s": fitted - split,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
