"""Request bodies: one row, and 1,000-row batches in MLflow's and petalflow's formats, for
Iris (one flower) and for penguins (a table with categories and gaps)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from petalflow.training.data import FEATURE_NAMES, load_dataset

ONE_ROW = {"sepal_length": 6.3, "sepal_width": 2.9, "petal_length": 5.6, "petal_width": 1.8}
BATCH_ROWS = 1000
SEED = 7
# The penguins table's first row (an Adelie from Torgersen): every field present, the
# numbers as the table holds them (integers where the contract says int).
ONE_PENGUIN = {
    "island": "Torgersen",
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "sex": "male",
}
PENGUIN_INTS = ("flipper_length_mm", "body_mass_g")
PENGUINS = "penguins_"  # the prefix of the penguins bodies' names


def batch_rows(n: int = BATCH_ROWS, seed: int = SEED) -> list[dict[str, float]]:
    """``n`` Iris rows drawn with replacement (a fixed seed, so every run sends the same)."""
    X = load_dataset()[0][list(FEATURE_NAMES)]
    records: list[dict[str, float]] = X.to_dict(orient="records")
    rng = random.Random(seed)
    return [dict(rng.choice(records)) for _ in range(n)]


def _penguin(record: dict[str, Any]) -> dict[str, Any]:
    """One row of the table as a client sends it: null for a gap, integers as integers."""
    row: dict[str, Any] = {}
    for name, value in record.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            row[name] = None
        elif name in PENGUIN_INTS:
            row[name] = int(value)
        else:
            row[name] = value
    return row


def penguin_rows(n: int = BATCH_ROWS, seed: int = SEED) -> list[dict[str, Any]]:
    """``n`` rows of the penguins table drawn with replacement (fixed seed), gaps as null
    (the table has 11 rows without sex, 2 of them with no measurement either; 36 of the
    1,000 rows drawn have a gap)."""
    from petalflow.training.datasets import load_raw

    raw = load_raw("penguins", seed)
    table = raw.frame[raw.contract.feature_names].astype(object)
    records = [_penguin(r) for r in table.to_dict(orient="records")]
    rng = random.Random(seed)
    return [dict(rng.choice(records)) for _ in range(n)]


def bodies_of(one: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A data set's bodies: /predict's row, and the same row and the batch for
    /invocations (``dataframe_records``) and /predict/batch (``instances``, and the
    columnar form: ``columns`` and ``data``, a gap as null)."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    return {
        "predict": one,
        "records_1": {"dataframe_records": [one]},
        "records_1000": {"dataframe_records": rows},
        "instances_1000": {"instances": rows},
        "columns_1000": {"columns": columns, "data": [[r.get(c) for c in columns] for r in rows]},
    }


def v2_request(rows: list[dict[str, float]]) -> dict[str, Any]:
    """The same Iris rows as an inference request of the V2 protocol (MLServer): one FP64
    tensor [rows, 4], row-major, columns in FEATURE_NAMES order, and ``predict_proba`` as
    the output asked for (the scikit-learn runtime's default output is ``predict``)."""
    data = [float(row[name]) for row in rows for name in FEATURE_NAMES]
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(rows), len(FEATURE_NAMES)],
                "datatype": "FP64",
                "data": data,
            }
        ],
        "outputs": [{"name": "predict_proba"}],
    }


def write_bodies(folder: Path, penguins: bool = False) -> dict[str, Path]:
    """Write every body once (penguins' too, named ``penguins_*``); their paths by name.
    Iris's rows also go as V2 requests (``v2_1``, ``v2_1000``) for MLServer."""
    rows = batch_rows()
    bodies = bodies_of(ONE_ROW, rows)
    bodies.update({"v2_1": v2_request([ONE_ROW]), "v2_1000": v2_request(rows)})
    if penguins:
        found = bodies_of(ONE_PENGUIN, penguin_rows())
        bodies.update({PENGUINS + name: body for name, body in found.items()})
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, body in bodies.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(body, separators=(",", ":")))
    return paths
