"""The scale benchmark's drift check: one window of the table against the trained model.

The window is the table's first ``window`` rows, checked against the contract, encoded as
the server holds rows (``RowCodec``: categories as their index, NaN for a gap) and
labelled by the trained pipeline; then ``drift_report`` runs on it against the model's
``reference_stats.json``, a few times. Only that call is timed: reading the window from
the prediction log is not part of it.
"""

from __future__ import annotations

import inspect
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from petalflow.core.codec import RowCodec
from petalflow.core.contract import ModelContract, parse_contract
from petalflow.monitoring import drift
from petalflow.training.table import typed_table


@dataclass(frozen=True)
class DriftTiming:
    """How long ``drift_report`` took on one window, and what it checked."""

    window: int
    features: int  # features the report covered
    by_type: bool  # whether each feature was checked by its type (categories, gaps)
    times_ms: list[float]
    status: str

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.times_ms))


def encoded_window(artifacts: Path, csv: Path, window: int) -> tuple[ModelContract, Any, list[str]]:
    """(the model's contract, the first ``window`` rows encoded, the model's labels)."""
    contract = parse_contract(json.loads((artifacts / "contract.json").read_text()), "contract")
    frame = pd.read_csv(csv, nrows=window, dtype=str, keep_default_na=False)
    X, _ = typed_table(frame, contract.features, contract.target, str(csv))
    rows = RowCodec(contract).encode_frame(X)
    model = joblib.load(artifacts / "model.joblib")
    return contract, rows, [str(label) for label in model.predict(X)]


def _report_call(
    reference: dict[str, Any], contract: ModelContract, rows: np.ndarray, labels: list[str]
) -> tuple[Callable[[], dict[str, Any]], int, bool]:
    """The drift call to time, how many features it covers, whether by type.

    ``drift_report`` takes the contract's features (``specs``) once it checks each column
    by its type; before that it checks numbers only, so the window keeps its numbers."""
    if "specs" in inspect.signature(drift.drift_report).parameters:
        names, specs = contract.feature_names, list(contract.features)

        def by_type() -> dict[str, Any]:
            return drift.drift_report(reference, rows, labels, names, specs=specs)

        return by_type, len(names), True
    numeric = [j for j, f in enumerate(contract.features) if f.numeric]
    names = [contract.features[j].name for j in numeric]
    window = np.ascontiguousarray(rows[:, numeric])

    def numbers_only() -> dict[str, Any]:
        return drift.drift_report(reference, window, labels, names)

    return numbers_only, len(names), False


def time_drift(artifacts: Path, csv: Path, window: int, repeats: int = 5) -> DriftTiming:
    """``drift_report`` over the first ``window`` rows, timed ``repeats`` times."""
    reference = json.loads((artifacts / "reference_stats.json").read_text())
    contract, rows, labels = encoded_window(artifacts, csv, window)
    call, covered, by_type = _report_call(reference, contract, rows, labels)
    times, report = [], {}
    for _ in range(repeats):
        began = time.perf_counter()
        report = call()
        times.append((time.perf_counter() - began) * 1000)
    return DriftTiming(len(rows), covered, by_type, times, str(report.get("status")))
