"""The scale benchmark's table: a seeded, generated CSV of mixed columns and its contract.

19 features and a target (20 columns): 12 numbers (int and float, each with bounds), 5
categories and 2 booleans. The 11 nullable features have ``MISSING_RATE`` (5 %) of their
cells empty; the others have none. The target (``risk``: high, low, medium) comes from a
linear score of the features plus Gumbel noise, so a logistic regression can learn it.
Offline and deterministic: numpy's generator only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

MISSING_RATE = 0.05
TARGET = "risk"
CLASSES = ("high", "low", "medium")
CLASS_BIAS = (0.0, 0.0, 0.6)  # evens out the three classes' shares
SEED = 2024


@dataclass(frozen=True)
class Column:
    """One feature: its contract entry and how its values are drawn."""

    name: str
    type: str  # float | int | category | bool
    nullable: bool
    low: float = 0.0  # bounds (numbers)
    high: float = 0.0
    categories: tuple[str, ...] = ()
    weights: tuple[float, float, float] = (0.0, 0.0, 0.0)  # effect on each class's score

    def spec(self) -> dict[str, Any]:
        """The contract's entry (SPEC 7)."""
        entry: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.type in ("int", "float"):
            cast = int if self.type == "int" else float
            entry.update(ge=cast(self.low), le=cast(self.high))
        if self.type == "category":
            entry["categories"] = list(self.categories)
        if self.nullable:
            entry["nullable"] = True
        return entry


def _num(name: str, kind: str, low: float, high: float, nullable: bool, *w: float) -> Column:
    return Column(name, kind, nullable, low, high, weights=(w[0], w[1], w[2]))


def _cat(name: str, values: str, nullable: bool, *w: float) -> Column:
    cats = tuple(values.split())
    return Column(name, "category", nullable, categories=cats, weights=(w[0], w[1], w[2]))


COLUMNS: tuple[Column, ...] = (
    _num("age", "int", 18, 95, True, 0.6, -0.4, 0.0),
    _num("tenure_months", "int", 0, 600, False, -0.8, 0.7, 0.1),
    _num("monthly_spend", "float", 0, 5000, True, 0.3, -0.2, 0.2),
    _num("balance", "float", -10000, 100000, False, -0.2, 0.4, 0.0),
    _num("credit_score", "int", 300, 850, True, -1.0, 0.9, 0.1),
    _num("num_products", "int", 1, 10, False, 0.0, 0.3, -0.2),
    _num("support_calls", "int", 0, 60, True, 0.9, -0.7, 0.2),
    _num("days_since_login", "int", 0, 3650, False, 0.5, -0.5, 0.0),
    _num("utilization", "float", 0, 1, True, 0.7, -0.6, 0.1),
    _num("income", "float", 0, 1000000, True, -0.3, 0.3, 0.1),
    _num("latitude", "float", -90, 90, False, 0.0, 0.0, 0.0),
    _num("temperature", "float", -40, 60, True, 0.1, 0.0, -0.1),
    _cat("plan", "basic plus pro enterprise", True, 0.4, -0.4, 0.0),
    _cat("region", "north south east west central islands coast mountains", False, 0.2, 0.0, -0.2),
    _cat("channel", "web store phone partner", True, -0.3, 0.1, 0.3),
    _cat("device", "ios android desktop", False, 0.0, 0.2, -0.1),
    _cat("segment", "A B C D E F", True, 0.5, -0.2, -0.3),
    Column("autopay", "bool", True, weights=(-0.5, 0.5, 0.0)),
    Column("paperless", "bool", False, weights=(0.2, -0.1, 0.0)),
)


def _draw(column: Column, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(values as written, a standardised signal for the target) of one column."""
    if column.type == "category":
        k = len(column.categories)
        codes = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 4.0)))
        signal = (codes - (k - 1) / 2) / max(k / 3, 1)
        return np.asarray(column.categories, dtype=object)[codes], signal
    if column.type == "bool":
        flags = rng.random(n) < 0.6
        return flags, flags.astype(np.float64) * 2 - 1
    span = column.high - column.low
    raw = rng.beta(2.0, 3.0, size=n) * span + column.low
    values = np.round(raw) if column.type == "int" else np.round(raw, 3)
    values = np.clip(values, column.low, column.high)
    return values, (raw - raw.mean()) / raw.std()


def _labels(score: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = score + rng.gumbel(scale=0.6, size=score.shape)
    return np.asarray(CLASSES, dtype=object)[noisy.argmax(axis=1)]


def _with_gaps(column: Column, values: np.ndarray, gaps: np.ndarray) -> Any:
    """The column as written: ints as Int64, booleans as "boolean", gaps as <NA>."""
    if column.type == "float":
        return np.where(gaps, np.nan, values)
    kind = {"int": "Int64", "bool": "boolean", "category": "str"}[column.type]
    cast = values.astype(np.int64) if column.type == "int" else values
    written = pd.Series(cast, dtype=kind)
    written[gaps] = None
    return written


def generate(rows: int, seed: int = SEED) -> pd.DataFrame:
    """The table: COLUMNS then the target; gaps only in nullable columns."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    score = np.tile(np.asarray(CLASS_BIAS), (rows, 1))
    for column in COLUMNS:
        values, signal = _draw(column, rng, rows)
        score += np.outer(signal, column.weights)
        gaps = (rng.random(rows) < MISSING_RATE) if column.nullable else np.zeros(rows, bool)
        data[column.name] = _with_gaps(column, values, gaps)
    data[TARGET] = _labels(score, rng)
    return pd.DataFrame(data)


def contract_document(csv_name: str) -> dict[str, Any]:
    """The data contract (SPEC 7) of the table, ``source`` relative to the contract."""
    return {
        "name": "scale",
        "source": csv_name,
        "target": TARGET,
        "features": [column.spec() for column in COLUMNS],
    }


@dataclass(frozen=True)
class Shape:
    """What the generated table holds."""

    rows: int
    columns: int  # features + target
    kinds: dict[str, int]  # features per type
    nullable: int  # nullable features
    nullable_missing: float  # share of empty cells in the nullable columns
    missing: float  # share of empty cells among all feature cells


def shape_of(frame: pd.DataFrame) -> Shape:
    kinds: dict[str, int] = {}
    for column in COLUMNS:
        kinds[column.type] = kinds.get(column.type, 0) + 1
    nullable = [c.name for c in COLUMNS if c.nullable]
    features = [c.name for c in COLUMNS]
    return Shape(
        rows=len(frame),
        columns=frame.shape[1],
        kinds=kinds,
        nullable=len(nullable),
        nullable_missing=float(frame[nullable].isna().to_numpy().mean()),
        missing=float(frame[features].isna().to_numpy().mean()),
    )


def write(folder: Path, rows: int, seed: int = SEED) -> tuple[Path, Path, Shape]:
    """Write ``scale.csv`` and ``scale.yaml`` into ``folder``; their paths, the shape."""
    folder.mkdir(parents=True, exist_ok=True)
    csv, contract = folder / "scale.csv", folder / "scale.yaml"
    frame = generate(rows, seed)
    frame.to_csv(csv, index=False)
    contract.write_text(yaml.safe_dump(contract_document(csv.name), sort_keys=False))
    return csv, contract, shape_of(frame)
