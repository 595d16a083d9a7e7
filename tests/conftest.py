"""Shared fixtures: an isolated MLflow store, trained models in tmp folders, helpers."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from petalflow.serving.settings import Settings

import train

ROOT = Path(__file__).resolve().parent.parent
# What a temporary copy of the project needs to train and serve.
PROJECT_FILES = ("train.py", "serve.py", "MLproject", "conda.yaml", "requirements.txt", "petalflow")


USER_PATHS = ("artifacts", "mlruns", "mlflow.db", "mlartifacts", "predictions.db")


def _user_state() -> dict[str, float | None]:
    return {
        name: ((ROOT / name).stat().st_mtime if (ROOT / name).exists() else None)
        for name in USER_PATHS
    }


@pytest.fixture(scope="session", autouse=True)
def user_files_untouched() -> Iterator[None]:
    """The suite must never create or change the user's artifacts, stores or logs."""
    before = _user_state()
    yield
    assert _user_state() == before, "a test touched the project's own artifacts or stores"


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


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """An in-process tune or training freezes the objects alive (``core.collector``):
    after each test they are collectable again, and the collector is on."""
    yield
    gc.unfreeze()
    gc.enable()


@pytest.fixture(autouse=True)
def tracking_uri_restored(isolated_tracking: str) -> Iterator[None]:
    """MLflow's ``set_tracking_uri`` (which an in-process training calls) also sets
    ``MLFLOW_TRACKING_URI``: after each test, both point at the session store again, or a
    session fixture made in a later test would log into that test's store."""
    yield
    mlflow.set_tracking_uri(isolated_tracking)


@pytest.fixture()
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store for tests that count runs."""
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri


def pipeline_frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    """What training gave the pipeline, for an independent predict_proba: numbers as
    float (NaN for null), text as object (a pandas DataFrame)."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        if any(isinstance(v, str) for v in values):
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype=object)
        else:
            data[name] = [np.nan if v is None else float(v) for v in values]
    return pd.DataFrame(data, columns=columns)


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


def pipeline_answer(folder: Path, row: dict[str, float]) -> dict[str, float]:
    """The saved pipeline's own probabilities for ``row`` (joblib, not petalflow's loader)."""
    import joblib
    import pandas as pd

    pipeline = joblib.load(folder / "model.joblib")
    proba = pipeline.predict_proba(pd.DataFrame([row]))[0]
    return dict(zip([str(c) for c in pipeline.classes_], proba.tolist(), strict=True))


def wait_for(path: Path, seconds: float = 60.0) -> None:
    """Wait until ``path`` exists (another process writes it); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def wait_for_fast_path(get: Callable[[str], Any], seconds: float = 60.0) -> None:
    """Wait until a server answers with its fast path, verified after start-up while
    scikit-learn answers (``get``: its client's GET, a TestClient's or httpx's)."""
    deadline = time.monotonic() + seconds
    while not get("/model").json()["fast_path"]:
        assert time.monotonic() < deadline, "the fast path was never adopted"
        time.sleep(0.01)


@contextlib.contextmanager
def logged_to_file(path: Path, name: str) -> Iterator[None]:
    """Logger ``name``'s records (INFO and up) go to ``path`` as "name LEVEL message"."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    package = logging.getLogger(name)
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(handler)
        handler.close()


class ChildRuns:
    """A runner (``petalflow.serving.loading.Runner``) that runs each work in a child
    process through ``in_child`` and records each child's pid."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def __call__(self, work: Callable[[], Any]) -> Any:
        from petalflow.serving.lifecycle.isolation import in_child

        pid, result = in_child(lambda: (os.getpid(), work()))
        self.pids.append(pid)
        return result


def make_settings(artifacts_dir: Path, **overrides: object) -> Settings:
    """Service settings for tests: local artifacts, no user paths."""
    from petalflow.serving.settings import Settings

    values: dict[str, object] = {
        "artifacts_dir": artifacts_dir,
        "prediction_log": "",
        "model_uri": None,
        "monitoring_refresh_seconds": 0,  # tests read fresh gauges
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def api(trained: Path) -> Iterator[TestClient]:
    """A client of the app serving the session's logreg model (lifespan run)."""
    from fastapi.testclient import TestClient

    from petalflow.serving.app import create_app

    with TestClient(create_app(make_settings(trained))) as test_client:
        wait_for_fast_path(test_client.get)
        yield test_client


@pytest.fixture(scope="session")
def api_sklearn(trained: Path) -> Iterator[TestClient]:
    """The same model served without the fast path (the scikit-learn fallback)."""
    from fastapi.testclient import TestClient

    from petalflow.serving.app import create_app

    with TestClient(create_app(make_settings(trained, fast_path=False))) as test_client:
        yield test_client


class ServerProcess:
    """A real server process on a loopback port, stopped by its PID."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_handle = log.open("wb")
        self.proc = subprocess.Popen(
            [a.replace("{port}", str(self.port)) for a in args],
            cwd=cwd,
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, path: str = "/health", timeout: float = 90) -> float:
        """Poll until ``path`` answers 200; returns the seconds it took."""
        import time

        import httpx

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not healthy after {timeout}s: {self.output()}")

    def output(self) -> str:
        self._log_handle.flush()
        return self.log.read_text(errors="replace")

    def json_lines(
        self, until: Callable[[list[dict[str, Any]]], bool] | None = None, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The JSON lines logged so far; with ``until``, once it holds for them (or after
        ``timeout`` s: the caller's asserts then say what is missing). Request lines are
        written up to 0.1 s after their response."""
        import json
        import time

        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(x) for x in self.output().splitlines() if x.startswith("{")]
            if until is None or until(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process and anything it spawned (its own session, started here)."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftover children (mlflow's workers)
        self._log_handle.close()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


def makefile_limits() -> list[str]:
    """The uvicorn flags of `make serve` and `make run` (the Makefile's UVICORN_LIMITS,
    read as the bench reads it)."""
    from bench.servers import shipped_limits

    return shipped_limits(ROOT)


def uvicorn_args(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "serve:app",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        *extra,
    ]


@pytest.fixture()
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Factory: start a real `uvicorn serve:app` with the given environment."""
    servers: list[ServerProcess] = []

    def start(
        env: dict[str, str | None], args: list[str] | None = None, healthy: bool = True
    ) -> ServerProcess:
        server = ServerProcess(
            args or uvicorn_args(),
            python_env(**{"PREDICTION_LOG": str(tmp_path / "predictions.db"), **env}),
            ROOT,
            tmp_path / f"server-{len(servers)}.log",
        )
        servers.append(server)
        if healthy:
            server.wait_healthy()
        return server

    yield start
    for server in servers:
        server.stop()
