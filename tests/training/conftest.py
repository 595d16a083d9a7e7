"""A user's CSV and its contract, generated here: the data of the contract tests."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from petalflow.training.search import TuneConfig
from petalflow.training.trial_runs import PARENT_TAG
from petalflow.training.tune_command import tune_main
from tests.conftest import ROOT, python_env

CSV_ROWS = 240
GAPS = (3, 10, 41, 77, 150)  # rows (0-based) whose "score" is empty


class Unfittable(LogisticRegression):
    """A classifier whose every fit fails: a trial that cannot fit."""

    def fit(self, *args: Any, **kwargs: Any) -> Unfittable:
        raise ValueError("this classifier cannot fit")


def write_csv(path: Path) -> Path:
    """int, float, category and bool columns, a nullable float with gaps, an id to drop,
    names with a space and a non-ASCII letter, a 3-class string target."""
    rng = np.random.default_rng(0)
    label = rng.choice(["low", "mid", "high"], size=CSV_ROWS)
    shift = pd.Series(label).map({"low": 0.0, "mid": 3.0, "high": 6.0}).to_numpy()
    frame = pd.DataFrame(
        {
            "row id": [f"r{i:04d}" for i in range(CSV_ROWS)],
            "tenure months": (rng.integers(0, 20, CSV_ROWS) + shift * 4).astype(int),
            "größe": np.round(rng.normal(shift, 1.0), 3),
            "plan": np.where(
                shift > 2,
                rng.choice(["plus", "pro"], CSV_ROWS),
                rng.choice(["basic", "plus"], CSV_ROWS),
            ),
            "active": np.where(rng.uniform(size=CSV_ROWS) < 0.5, "true", "false"),
            "score": np.round(rng.normal(shift, 2.0), 2),
            "level": label,
        }
    )
    frame.loc[list(GAPS), "score"] = np.nan
    frame.to_csv(path, index=False)
    return path


def contract_document(source: str = "data.csv") -> dict[str, Any]:
    """The hand-written contract of ``write_csv``'s table."""
    return {
        "name": "levels",
        "source": source,
        "target": "level",
        "drop": ["row id"],
        "features": [
            {"name": "tenure months", "type": "int", "ge": 0, "le": 100},
            {"name": "größe", "type": "float", "description": "size, in m"},
            {"name": "plan", "type": "category", "categories": ["basic", "plus", "pro"]},
            {"name": "active", "type": "bool"},
            {"name": "score", "type": "float", "nullable": True},
        ],
    }


def write_contract(folder: Path, document: dict[str, Any] | None = None) -> Path:
    """The CSV and its contract in ``folder``; returns the contract's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "data.csv")
    path = folder / "contract.yaml"
    path.write_text(yaml.safe_dump(document or contract_document(), allow_unicode=True))
    return path


@pytest.fixture()
def user_table(tmp_path: Path) -> Path:
    """A fresh CSV + contract pair; the contract's path."""
    return write_contract(tmp_path / "table")


def tune_config(**changes: Any) -> TuneConfig:
    """Tune's resolved options for Iris logreg, with ``changes``."""
    values: dict[str, Any] = {
        "dataset": "iris",
        "model": "logreg",
        "trials": 4,
        "seed": 3,
        "jobs": 1,
        "metric": "f1_macro",
        "cv_folds": 3,
        "test_size": 0.2,
        "storage": None,
        "study": None,
        "register_model": None,
        "alias": None,
        "artifacts_dir": "artifacts",
        "experiment_name": "iris",
    }
    return TuneConfig(**{**values, **changes})


def tune_in(folder: Path, *args: str) -> tuple[MlflowClient, dict[str, Any]]:
    """Tune with ``folder`` as working directory and store; (client, model_info)."""
    uri = f"sqlite:///{folder / 'runs.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(folder)
        assert tune_main(["--artifacts-dir", "artifacts", *args]) == 0
    return MlflowClient(uri), json.loads((folder / "artifacts" / "model_info.json").read_text())


def tune_process(folder: Path, *args: str) -> tuple[MlflowClient, dict[str, Any]]:
    """Tune in a process of its own, as a user runs it: ``folder`` is its working
    directory and store; (client, model_info). A pickle's bytes depend on which string
    objects the process already holds, so byte-for-byte claims are about fresh processes."""
    uri = f"sqlite:///{folder / 'runs.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "petalflow", "tune", "--artifacts-dir", "artifacts", *args],
        cwd=folder,
        env=python_env(MLFLOW_TRACKING_URI=uri, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return MlflowClient(uri), json.loads((folder / "artifacts" / "model_info.json").read_text())


def child_runs(client: MlflowClient, parent: str) -> list[Any]:
    """The child runs of ``parent``, in trial order."""
    runs = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent}'",
    )
    return sorted(runs, key=lambda r: int(r.data.tags["trial"]))


class FlakyStorage:
    """Stands in for optuna's RDBStorage: raises the queued errors, then opens (and
    counts the times its engine's connections are closed)."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0
        self.disposed = 0

    def __call__(self, url: str) -> object:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return types.SimpleNamespace(engine=types.SimpleNamespace(dispose=self._dispose))

    def _dispose(self) -> None:
        self.disposed += 1
