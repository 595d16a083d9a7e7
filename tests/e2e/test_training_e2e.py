"""train.py and `mlflow run` in real processes: reproducibility, stores, failures, signals.

Every test works in tmp_path: temporary sqlite stores, temporary copies of the project
(conftest.copy_project). The project's own artifacts/, mlruns/ and mlflow.db are never
touched (conftest's session fixture checks it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import train
from tests.conftest import copy_project, free_port, python_env, run_train

pytestmark = pytest.mark.e2e

MLFLOW = Path(sys.executable).parent / "mlflow"
# Identical across processes for the same arguments (model_info.json is not: run_id).
STABLE_FILES = (
    "model.joblib",
    "metrics.json",
    "params.json",
    "confusion_matrix.json",
    "reference_stats.json",
    "contract.json",
)
ALL_FILES = {*STABLE_FILES, "model_info.json"}
STAGING_GLOB = ".tmp-artifacts-*"
LOOPBACK = "127.0.0.1,localhost"


# --------------------------------------------------------------------------- helpers


def _env(**overrides: str | None) -> dict[str, str]:
    """python_env plus: loopback never goes through a proxy."""
    base = python_env()
    no_proxy = ",".join(filter(None, [base.get("NO_PROXY", ""), LOOPBACK]))
    return python_env(NO_PROXY=no_proxy, no_proxy=no_proxy, **overrides)


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _all_runs(client: MlflowClient) -> list[Any]:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def _expected_params(params_json: dict[str, Any]) -> dict[str, str]:
    """How params.json is spelled in MLflow: strings, unset values 'none'."""
    return {k: "none" if v is None else str(v) for k, v in params_json.items()}


def _defaults() -> dict[str, Any]:
    """train.py's argparse defaults: the single source of truth (the experiment defaults
    to the data set's name, which for a built-in data set is the flag's value)."""
    defaults = vars(train.build_parser().parse_args([]))
    return {**defaults, "experiment_name": defaults["experiment_name"] or defaults["dataset"]}


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit={result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def _stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Terminate a process we started (by PID), kill it on timeout, reap its group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    # Started with start_new_session=True: its group id is its PID. Reap any child it
    # left behind (e.g. uvicorn workers of `mlflow server`).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "<no log>"


# ------------------------------------------------------------------ 1. reproducibility

CASES = {
    "logreg": ("--model", "logreg"),
    "rf": ("--model", "rf", "--n-estimators", "50"),
}
OTHER_SEED = "7"


@pytest.fixture(scope="module")
def trainings(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, int], Path]:
    """(model, seed, replica) -> artifacts folder; each trained in its own process, cwd
    and sqlite store. Twin trainings per model, plus logreg with another seed (for
    logreg the model depends on the seed only through the split)."""
    jobs = [(model, "42", replica) for model in CASES for replica in (1, 2)]
    jobs.append(("logreg", OTHER_SEED, 1))

    def run(job: tuple[str, str, int]) -> Path:
        model, seed, replica = job
        cwd = tmp_path_factory.mktemp(f"{model}-seed{seed}-r{replica}")
        env = _env(MLFLOW_TRACKING_URI=_sqlite(cwd / "x.db"))
        result = run_train(
            cwd, "--artifacts-dir", "artifacts", "--seed", seed, *CASES[model], env=env
        )
        assert result.returncode == 0, _output(result)
        return cwd / "artifacts"

    # Separate processes, two at a time (each is mostly single-threaded).
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        return dict(zip(jobs, pool.map(run, jobs), strict=True))


@pytest.mark.parametrize("model", list(CASES))
def test_same_arguments_in_separate_processes_give_identical_artifacts(
    model: str, trainings: dict[tuple[str, str, int], Path]
) -> None:
    first, second = trainings[model, "42", 1], trainings[model, "42", 2]
    assert {p.name for p in first.iterdir()} == ALL_FILES
    assert {p.name for p in second.iterdir()} == ALL_FILES
    for name in STABLE_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    params = json.loads((first / "params.json").read_text())
    assert params["artifacts_dir"] == "artifacts"
    assert params["model"] == model

    info1 = json.loads((first / "model_info.json").read_text())
    info2 = json.loads((second / "model_info.json").read_text())
    assert info1["run_id"] != info2["run_id"]
    assert (first / "model_info.json").read_bytes() != (second / "model_info.json").read_bytes()
    assert info1["sha256"] == info2["sha256"]


def _run_files(artifacts_dir: Path) -> dict[str, bytes]:
    """The files logged to the run of ``artifacts_dir``, from its store's mlruns/."""
    info = json.loads((artifacts_dir / "model_info.json").read_text())
    root = artifacts_dir.parent / "mlruns" / info["experiment_id"] / info["run_id"] / "artifacts"
    folder = root / "evaluation"
    return {
        p.name: p.read_bytes() for p in [root / "confusion_matrix.png", *sorted(folder.iterdir())]
    }


@pytest.mark.parametrize("model", list(CASES))
def test_same_arguments_in_separate_processes_draw_identical_plots_and_reports(
    model: str, trainings: dict[tuple[str, str, int], Path]
) -> None:
    from petalflow.training import diagnostics

    first, second = (_run_files(trainings[model, "42", r]) for r in (1, 2))
    assert set(first) == {"confusion_matrix.png", *diagnostics.PLOTS, *diagnostics.REPORTS}
    assert first == second


def test_another_seed_changes_the_split_and_the_model(
    trainings: dict[tuple[str, str, int], Path],
) -> None:
    base, other = trainings["logreg", "42", 1], trainings["logreg", OTHER_SEED, 1]
    params, other_params = (json.loads((d / "params.json").read_text()) for d in (base, other))
    assert other_params == {**params, "seed": int(OTHER_SEED)}
    # Another split: other training rows, another fitted model.
    assert (base / "reference_stats.json").read_bytes() != (
        other / "reference_stats.json"
    ).read_bytes()
    assert (base / "model.joblib").read_bytes() != (other / "model.joblib").read_bytes()
    # ... and other test rows: the scores or the confusion matrix move.
    assert (base / "metrics.json").read_bytes() != (other / "metrics.json").read_bytes() or (
        base / "confusion_matrix.json"
    ).read_bytes() != (other / "confusion_matrix.json").read_bytes()


# --------------------------------------------------------------------- 2. mlflow run


MlflowRun = tuple[Path, str, subprocess.CompletedProcess[str]]


def _mlflow_run(workdir: Path, *args: str) -> MlflowRun:
    """`mlflow run <copy> --env-manager local ...` into a fresh sqlite store."""
    project = copy_project(workdir / "project")
    uri = _sqlite(workdir / "runs.db")
    cwd = workdir / "cwd"  # where `mlflow run` itself resolves ./mlruns
    cwd.mkdir()
    result = subprocess.run(
        [str(MLFLOW), "run", str(project), "--env-manager", "local", *args],
        cwd=cwd,
        env=_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return project, uri, result


MLFLOW_RUNS = {
    "params": (
        *("-P", "seed=7", "-P", "model=rf", "-P", "n_estimators=50"),
        *("-P", "artifacts_dir=rf-model"),
    ),
    "experiment": ("--experiment-name", "e2e-chosen"),
}


@pytest.fixture(scope="module")
def mlflow_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MlflowRun]:
    """Both `mlflow run` invocations, run concurrently (separate stores and copies)."""

    def run(key: str) -> MlflowRun:
        return _mlflow_run(tmp_path_factory.mktemp(f"mlflow-run-{key}"), *MLFLOW_RUNS[key])

    with ThreadPoolExecutor(max_workers=len(MLFLOW_RUNS)) as pool:
        return dict(zip(MLFLOW_RUNS, pool.map(run, MLFLOW_RUNS), strict=True))


def _only_finished_run(
    uri: str, result: subprocess.CompletedProcess[str]
) -> tuple[MlflowClient, Any]:
    """The store's one run, which `mlflow run` must have finished."""
    assert result.returncode == 0, _output(result)
    client = MlflowClient(uri)
    runs = _all_runs(client)
    assert len(runs) == 1, [(r.info.run_id, r.info.experiment_id) for r in runs]
    assert runs[0].info.status == "FINISHED"
    return client, runs[0]


def test_mlflow_run_logs_exactly_one_run_with_the_given_params(
    mlflow_runs: dict[str, MlflowRun],
) -> None:
    project, uri, result = mlflow_runs["params"]
    client, run = _only_finished_run(uri, result)
    # No --experiment-name: MLflow's choice (Default) wins, train.py creates no other one.
    assert client.get_experiment(run.info.experiment_id).name == "Default"
    assert [e.name for e in client.search_experiments()] == ["Default"]

    artifacts_dir = project / "rf-model"  # -P artifacts_dir, relative to the project
    assert not (project / "artifacts").exists()
    params_json = json.loads((artifacts_dir / "params.json").read_text())
    expected = {
        **_defaults(),
        **{"seed": 7, "model": "rf", "n_estimators": 50, "artifacts_dir": "rf-model"},
        "experiment_name": "Default",  # where the run is, with a warning saying how to choose
    }
    assert params_json == expected
    assert "this run is in the experiment 'Default' (mlflow run's), not 'iris'" in _output(result)
    assert run.data.params == _expected_params(expected)
    assert run.data.params["seed"] == "7"
    assert run.data.params["model"] == "rf"
    assert run.data.params["n_estimators"] == "50"
    assert run.data.metrics == json.loads((artifacts_dir / "metrics.json").read_text())
    info = json.loads((artifacts_dir / "model_info.json").read_text())
    assert info["run_id"] == run.info.run_id
    assert info["tracking_uri"] == uri


def test_mlflow_run_experiment_name_chooses_the_experiment(
    mlflow_runs: dict[str, MlflowRun],
) -> None:
    project, uri, result = mlflow_runs["experiment"]
    client, run = _only_finished_run(uri, result)
    assert client.get_experiment(run.info.experiment_id).name == "e2e-chosen"
    assert client.get_experiment_by_name("iris") is None
    # MLproject defaults == train.py defaults: MLflow would refuse a changed param.
    assert run.data.params == _expected_params({**_defaults(), "experiment_name": "e2e-chosen"})
    assert "this run is in the experiment" not in _output(result)  # chosen: no warning
    info = json.loads((project / "artifacts" / "model_info.json").read_text())
    assert info["run_id"] == run.info.run_id
    assert info["experiment_id"] == run.info.experiment_id


# ------------------------------------------------ 3. default store, anchored at the root


def _http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def _wait_healthy(base: str, proc: subprocess.Popen[Any], log: Path, limit: float = 60) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{_tail(log)}")
        with (
            contextlib.suppress(OSError),
            opener.open(f"{base}/health", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.25)
    pytest.fail(f"mlflow server not healthy within {limit} s:\n{_tail(log)}")


def test_without_tracking_uri_runs_land_at_the_project_root_and_mlflow_server_lists_them(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_train(
        elsewhere,
        "--artifacts-dir",
        "artifacts",
        env=_env(MLFLOW_TRACKING_URI=None),
        script=project / "train.py",
    )
    assert result.returncode == 0, _output(result)

    # The working directory only got the artifacts folder we asked for.
    assert [p.name for p in elsewhere.iterdir()] == ["artifacts"]
    assert {p.name for p in (elsewhere / "artifacts").iterdir()} == ALL_FILES
    # The store is the copy's, whatever the working directory.
    assert (project / "mlflow.db").is_file()
    assert (project / "mlruns").is_dir()
    info = json.loads((elsewhere / "artifacts" / "model_info.json").read_text())
    assert info["tracking_uri"] == _sqlite((project / "mlflow.db").resolve())
    run_id, experiment_id = info["run_id"], info["experiment_id"]
    assert (project / "mlruns" / experiment_id / run_id / "artifacts" / "metrics.json").is_file()

    # `mlflow server` started at the root with no store flags shows the run.
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=project,
            env=_env(MLFLOW_TRACKING_URI=None, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, server, log)
        query = urllib.parse.urlencode({"experiment_name": "iris"})
        experiment = _http_json(f"{base}/api/2.0/mlflow/experiments/get-by-name?{query}")
        assert experiment["experiment"]["experiment_id"] == experiment_id
        found = _http_json(
            f"{base}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]}
        )
        runs = found.get("runs", [])
        assert [r["info"]["run_id"] for r in runs] == [run_id]
        assert runs[0]["info"]["status"] == "FINISHED"
        assert runs[0]["info"]["artifact_uri"].startswith((project / "mlruns").resolve().as_uri())
    finally:
        _stop(server)
    # Nothing else appeared in the working directory meanwhile.
    assert [p.name for p in elsewhere.iterdir()] == ["artifacts"]


# --------------------------------------------------------- 4. unreachable tracking server


def test_unreachable_tracking_server_fails_fast_naming_the_uri(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    started = time.monotonic()
    result = run_train(cwd, "--artifacts-dir", "artifacts", env=_env(MLFLOW_TRACKING_URI=uri))
    elapsed = time.monotonic() - started

    assert result.returncode != 0, _output(result)
    assert elapsed < 60, elapsed
    assert uri in result.stdout + result.stderr, _output(result)
    assert list(cwd.iterdir()) == []  # no artifacts, no temporary folder, no ./mlruns


# ------------------------------------------------------------ 5. SIGTERM while training


def test_sigterm_during_training_keeps_previous_artifacts_and_fails_the_run(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path / "project")
    uri = _sqlite(tmp_path / "runs.db")
    env = _env(MLFLOW_TRACKING_URI=uri)
    target = project / "artifacts"
    script = project / "train.py"

    previous = run_train(project, "--artifacts-dir", "artifacts", env=env, script=script)
    assert previous.returncode == 0, _output(previous)
    before = _snapshot(target)
    assert set(before) == ALL_FILES
    pristine = tmp_path / "pristine"
    shutil.copytree(target, pristine)
    client = MlflowClient(uri)

    command = [sys.executable, str(script), "--artifacts-dir", "artifacts"]
    # More trees = a longer window; retry with more if the training outran the signal.
    for n_trees in (500, 2000, 8000):
        known = {r.info.run_id for r in _all_runs(client)}
        log = tmp_path / f"train-{n_trees}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*command, "--model", "rf", "--n-estimators", str(n_trees)],
                cwd=project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            staging: list[Path] = []
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                staging = list(project.glob(STAGING_GLOB))
                if staging:
                    proc.send_signal(signal.SIGTERM)
                    break
                time.sleep(0.01)
            else:
                if proc.poll() is None:
                    pytest.fail(f"no {STAGING_GLOB} folder within 120 s:\n{_tail(log)}")
            returncode = proc.wait(60)
        finally:
            _stop(proc)

        if not staging or returncode == 0:
            # Finished before the signal could land: restore and try a longer training.
            assert returncode == 0, _tail(log)
            shutil.rmtree(target)
            shutil.copytree(pristine, target)
            continue

        assert returncode != 0
        assert list(project.glob(STAGING_GLOB)) == [], _tail(log)
        assert not any(p.name.startswith(".tmp-") for p in project.iterdir())
        assert _snapshot(target) == before
        new_runs = [r for r in _all_runs(client) if r.info.run_id not in known]
        assert [r.info.status for r in new_runs] == ["FAILED"], _tail(log)
        previous_run = json.loads(before["model_info.json"])["run_id"]
        assert client.get_run(previous_run).info.status == "FINISHED"
        return
    pytest.fail("every training finished before SIGTERM could interrupt it")
