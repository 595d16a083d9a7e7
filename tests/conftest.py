"""Shared fixtures: an isolated MLflow store, trained models in tmp folders, helpers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import train

ROOT = Path(__file__).resolve().parent.parent
# What a temporary copy of the project needs to train and serve.
PROJECT_FILES = ("train.py", "serve.py", "MLproject", "conda.yaml", "requirements.txt", "petalflow")


@pytest.fixture(scope="session", autouse=True)
def isolated_tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every test logs into a throwaway sqlite store, never the user's mlflow.db."""
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MODEL_URI"):
            mp.delenv(var, raising=False)
        yield uri


@pytest.fixture()
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store for tests that count runs."""
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri


def train_into(artifacts_dir: Path, *extra: str) -> Path:
    """Train in-process into ``artifacts_dir``; returns it."""
    assert train.main(["--artifacts-dir", str(artifacts_dir), *extra]) == 0
    return artifacts_dir


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str) -> Path:
    """Artifacts of a default (logreg) training, shared by the session: read-only."""
    return train_into(tmp_path_factory.mktemp("logreg") / "artifacts")


@pytest.fixture(scope="session")
def trained_rf(tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str) -> Path:
    """Artifacts of a small random forest, shared by the session: read-only."""
    return train_into(
        tmp_path_factory.mktemp("rf") / "artifacts", "--model", "rf", "--n-estimators", "30"
    )


@pytest.fixture()
def client(isolated_tracking: str) -> MlflowClient:
    """A client of the session store; also points MLflow's fluent API at it."""
    mlflow.set_tracking_uri(isolated_tracking)
    return MlflowClient(isolated_tracking)


def copy_project(dest: Path) -> Path:
    """A temporary copy of the project (no .venv, no stores) for end-to-end tests."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_env(**overrides: str | None) -> dict[str, str]:
    """The current environment with the venv's bin first on PATH, plus overrides."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_train(
    cwd: Path, *args: str, env: dict[str, str] | None = None, script: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run train.py in a separate process."""
    return subprocess.run(
        [sys.executable, str(script or ROOT / "train.py"), *args],
        cwd=cwd,
        env=env or python_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
