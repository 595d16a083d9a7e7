"""Real fitted pipelines of the shapes training builds: Iris's data, and for tables with
categories and gaps, penguins and a generated table (int, float, bool, categories, gaps),
with their contracts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.pipeline import Pipeline

from petalflow.core.codec import RowCodec
from petalflow.core.contract import ModelContract
from petalflow.training import data
from petalflow.training.config import TrainConfig
from petalflow.training.data import load_dataset
from petalflow.training.pipeline import build_pipeline

TOLERANCE = 1e-12
TABLE_ROWS = 400
# Contract order on purpose not sorted; "pro max" never occurs in the data.
PLANS = ["pro", "basic", "plus", "pro max"]
REGIONS = ["west", "north", "south", "east"]


@dataclass(frozen=True)
class Fitted:
    """A fitted training pipeline and the contract it is served under."""

    pipeline: Pipeline
    contract: ModelContract
    dataset: data.Dataset

    def oracle(self, rows: np.ndarray) -> np.ndarray:
        """scikit-learn's probabilities for encoded rows."""
        return np.asarray(self.pipeline.predict_proba(RowCodec(self.contract).to_frame(rows)))


def config(model: str, dataset: str, **changes: Any) -> TrainConfig:
    """train.py's defaults for ``model`` on ``dataset``."""
    values: dict[str, Any] = {
        "seed": 42,
        "test_size": 0.2,
        "model": model,
        "C": 1.0,
        "max_iter": 1000,
        "n_estimators": 200,
        "max_depth": None,
        "artifacts_dir": "artifacts",
        "experiment_name": dataset,
        "register_model": None,
        "alias": None,
        "dataset": dataset,
    }
    return TrainConfig(**{**values, **changes})


def fit(dataset: data.Dataset, model: str, **changes: Any) -> Fitted:
    """What petalflow.training.run fits: build_pipeline on the training split."""
    split = dataset.split
    pipeline = build_pipeline(config(model, dataset.name, **changes), dataset.features)
    pipeline.fit(split.X_train, split.y_train)
    return Fitted(pipeline, data.model_contract(dataset, pipeline.classes_), dataset)


def write_table(folder: Path) -> Path:
    """A CSV and its contract: int, float, category, bool, and gaps in a float, an int,
    a bool and a category; a 3-class target that depends on most columns."""
    rng = np.random.default_rng(7)
    n = TABLE_ROWS
    tenure = rng.integers(0, 120, n)
    size = np.round(rng.normal(0.0, 2.0, n), 3)
    plan = rng.choice(PLANS[:3], n)
    active = rng.uniform(size=n) < 0.4
    score = np.round(rng.normal(50.0, 15.0, n), 2)
    items = rng.integers(0, 9, n).astype(float)
    region = rng.choice(REGIONS, n).astype(object)
    signal = tenure / 40 + size + (plan == "pro") * 2 + active + (region == "east") * 1.5
    level = np.digitize(signal + rng.normal(0, 0.5, n), np.quantile(signal, [1 / 3, 2 / 3]))
    frame = pd.DataFrame(
        {
            "tenure months": tenure,
            "größe": size,
            "plan": plan,
            "active": np.where(active, "true", "false").astype(object),
            "score": score,
            "items": items,
            "region": region,
            "level": np.array(["low", "mid", "high"])[level],
        }
    )
    for column, rate in (("score", 0.1), ("items", 0.05), ("active", 0.05), ("region", 0.15)):
        frame.loc[rng.uniform(size=n) < rate, column] = np.nan
    frame.to_csv(folder / "table.csv", index=False)
    contract = {
        "name": "table",
        "source": "table.csv",
        "target": "level",
        "features": [
            {"name": "tenure months", "type": "int", "ge": 0, "le": 600},
            {"name": "größe", "type": "float"},
            {"name": "plan", "type": "category", "categories": PLANS},
            {"name": "active", "type": "bool", "nullable": True},
            {"name": "score", "type": "float", "gt": 0, "nullable": True},
            {"name": "items", "type": "int", "ge": 0, "lt": 50, "nullable": True},
            {"name": "region", "type": "category", "categories": REGIONS, "nullable": True},
        ],
    }
    path = folder / "contract.yaml"
    path.write_text(yaml.safe_dump(contract, allow_unicode=True))
    return path


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    """Iris's features and species, as training loads them."""
    return load_dataset()


@pytest.fixture(scope="session")
def penguins() -> data.Dataset:
    return data.prepare("penguins", test_size=0.2, seed=42)


@pytest.fixture(scope="session")
def table(tmp_path_factory: pytest.TempPathFactory) -> data.Dataset:
    return data.prepare(str(write_table(tmp_path_factory.mktemp("table"))), 0.2, seed=42)


@pytest.fixture(scope="session")
def fitted(penguins: data.Dataset, table: data.Dataset) -> dict[str, Fitted]:
    """penguins and the table with train.py's defaults (the table's forest is too large for
    lookup tables: it is walked), and a smaller forest on the table (50 trees of depth 5)."""
    return {
        "penguins-logreg": fit(penguins, "logreg"),
        "penguins-rf": fit(penguins, "rf"),
        "table-logreg": fit(table, "logreg"),
        "table-rf": fit(table, "rf"),
        "table-rf-small": fit(table, "rf", n_estimators=50, max_depth=5),
    }
