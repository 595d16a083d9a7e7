"""tune in real processes: `mlflow run -e tune`, and two processes sharing one study in a
real PostgreSQL server that the test starts (and stops) itself.

PostgreSQL refuses to run as root: when the tests run as root (CI), the server runs as
the unprivileged user ``nobody`` in a folder given to it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from petalflow.training.trial_runs import PARENT_TAG
from tests.conftest import ROOT, copy_project, free_port, python_env

pytestmark = pytest.mark.e2e

MLFLOW = Path(sys.executable).parent / "mlflow"
TUNE_P = ("-P", "trials=3", "-P", "cv_folds=3", "--experiment-name", "iris")
INSTALL_HINT = "install PostgreSQL's server (make tools does: apt-get install postgresql)"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit={result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def _runs(uri: str) -> list[Any]:
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def test_mlflow_run_tune_makes_one_parent_with_three_children(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = subprocess.run(
        [str(MLFLOW), "run", str(project), "--env-manager", "local", "-e", "tune", *TUNE_P],
        cwd=cwd,
        env=python_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, _output(result)
    runs = _runs(uri)
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get(PARENT_TAG) == parent.info.run_id]
    assert sorted(c.data.tags["trial"] for c in children) == ["0", "1", "2"]
    assert len(runs) == 4
    assert MlflowClient(uri).get_experiment(parent.info.experiment_id).name == "iris"
    assert parent.data.params["trials"] == "3" and "best_C" in parent.data.params
    assert (project / "artifacts" / "model.joblib").is_file()


# ------------------------------------------------------------------ a real PostgreSQL


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    assert found, f"no {name}: {INSTALL_HINT}"
    return found


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` as nobody when we are root (PostgreSQL will not run as root)."""
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture()
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on a loopback port; its URL for a database `optuna`."""
    folder = Path(tempfile.mkdtemp(prefix="petalflow-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody")
    port = free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        _as_server_user([_pg_bin("initdb"), "-D", str(data), "-U", "petalflow", "--auth=trust"]),
        **run,  # type: ignore[call-overload]
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = _pg_bin("pg_ctl")
    subprocess.run(
        _as_server_user(
            [ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
        ),
        **run,  # type: ignore[call-overload]
    )
    try:
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "petalflow", "optuna"],
            **run,  # type: ignore[call-overload]
        )
        yield f"postgresql://petalflow@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(
            _as_server_user([ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


TUNE = (sys.executable, "-m", "petalflow", "tune", "--cv-folds", "3")


def test_two_tune_processes_share_one_study_in_postgresql(tmp_path: Path, postgres: str) -> None:
    import optuna

    trials = 8
    procs = []
    for name in ("a", "b"):
        cwd = tmp_path / name
        cwd.mkdir()
        log = (cwd / "tune.log").open("w")
        procs.append(
            (
                cwd,
                subprocess.Popen(
                    [*TUNE, "--trials", str(trials), "--storage", postgres, "--study", "shared"],
                    cwd=cwd,
                    env=python_env(
                        MLFLOW_TRACKING_URI=f"sqlite:///{cwd / 'runs.db'}",
                        PYTHONPATH=str(ROOT),
                    ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
        time.sleep(1)  # both start while the other is still searching
    numbers: list[int] = []
    for cwd, proc in procs:
        assert proc.wait(timeout=600) == 0, (cwd / "tune.log").read_text()[-4000:]
        runs = _runs(f"sqlite:///{cwd / 'runs.db'}")
        children = [r for r in runs if PARENT_TAG in r.data.tags]
        assert all(c.info.status == "FINISHED" for c in children)
        numbers += [int(c.data.tags["trial"]) for c in children]
        assert (cwd / "artifacts" / "model.joblib").is_file()
    assert sorted(numbers) == list(range(trials))  # together: every trial, each logged once
    study = optuna.load_study(study_name="shared", storage=postgres)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == list(range(trials))
