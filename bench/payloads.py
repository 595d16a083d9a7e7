"""Request bodies: one flower, and 1,000-row batches in MLflow's and petalflow's formats."""

from __future__ import annotations

import json
import random
from pathlib import Path

from petalflow.training.data import FEATURE_NAMES, load_dataset

ONE_ROW = {"sepal_length": 6.3, "sepal_width": 2.9, "petal_length": 5.6, "petal_width": 1.8}
BATCH_ROWS = 1000
SEED = 7


def batch_rows(n: int = BATCH_ROWS, seed: int = SEED) -> list[dict[str, float]]:
    """``n`` Iris rows drawn with replacement (a fixed seed, so every run sends the same)."""
    X = load_dataset()[0][list(FEATURE_NAMES)]
    records: list[dict[str, float]] = X.to_dict(orient="records")
    rng = random.Random(seed)
    return [dict(rng.choice(records)) for _ in range(n)]


def write_bodies(folder: Path) -> dict[str, Path]:
    """Write every body once; returns their paths by name."""
    rows = batch_rows()
    bodies = {
        "predict": ONE_ROW,
        "records_1": {"dataframe_records": [ONE_ROW]},
        "records_1000": {"dataframe_records": rows},
        "instances_1000": {"instances": rows},
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, body in bodies.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(body, separators=(",", ":")))
    return paths
