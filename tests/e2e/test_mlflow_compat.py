"""petalflow is a drop-in for `mlflow models serve` (issue #17): every case of
``mlflow_iris_cases`` and ``mlflow_penguin_cases``, derived from MLflow's own scoring-server
tests, goes to a real `mlflow models serve` and a real petalflow uvicorn serving the same
training run, for an Iris forest and a penguins model (categories, nulls).

Outside the README's compatibility table both agree on the status class, the predictions
and, for an error, the status code and MLflow's ``error_code``; a case of the table checks
each server's documented status instead, and the table lists exactly those differences.
The four servers start once for the module, in parallel.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from petalflow.core.codec import RowCodec
from petalflow.core.contract import ModelContract
from tests.conftest import ROOT, ServerProcess, python_env, train_into, uvicorn_args
from tests.e2e.mlflow_cases import DIFFERENCES, JSON, Case
from tests.e2e.mlflow_iris_cases import iris_cases
from tests.e2e.mlflow_penguin_cases import penguin_cases, table_case

pytestmark = pytest.mark.e2e
IRIS_CASES = iris_cases()
PENGUIN_CASES = penguin_cases()
LEAKS = ("Traceback", "stack_trace", 'File "', str(ROOT), "site-packages", "/tmp/")


class Pair(NamedTuple):
    """petalflow and `mlflow models serve`, serving the same run (one client each)."""

    ours: ServerProcess
    theirs: ServerProcess
    artifacts: Path
    clients: dict[str, httpx.Client]


class Servers(NamedTuple):
    iris: Pair
    penguins: Pair


def _mlflow_serve(run_id: str, tracking_uri: str, log: Path) -> ServerProcess:
    args = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m"]
    args += [f"runs:/{run_id}/model", "--env-manager", "local"]
    args += ["--host", "127.0.0.1", "--port", "{port}"]
    return ServerProcess(args, python_env(MLFLOW_TRACKING_URI=tracking_uri), ROOT, log)


def _pair(artifacts: Path, folder: Path, tracking_uri: str) -> Pair:
    """Start both servers of a training run (not waiting for them)."""
    run_id = json.loads((artifacts / "model_info.json").read_text())["run_id"]
    folder.mkdir()
    theirs = _mlflow_serve(run_id, tracking_uri, folder / "mlflow.log")
    env = python_env(ARTIFACTS_DIR=str(artifacts), PREDICTION_LOG=str(folder / "predictions.db"))
    ours = ServerProcess(uvicorn_args(), env, ROOT, folder / "petalflow.log")
    clients = {s.url: httpx.Client(base_url=s.url, timeout=60) for s in (ours, theirs)}
    return Pair(ours, theirs, artifacts, clients)


@pytest.fixture(scope="module")
def servers(
    trained_rf: Path, tmp_path_factory: pytest.TempPathFactory, isolated_tracking: str
) -> Iterator[Servers]:
    """Both servers for the session's Iris forest and for a penguins model, started at
    once (MLflow's take ~30 s; the penguins model trains meanwhile); stopped, by their
    PIDs, after the module."""
    folder = tmp_path_factory.mktemp("mlflow-compat")
    pairs = [_pair(trained_rf, folder / "iris", isolated_tracking)]
    try:
        penguins = train_into(folder / "penguins-artifacts", "--dataset", "penguins")
        pairs.append(_pair(penguins, folder / "penguins", isolated_tracking))
        for pair in pairs:
            for server in (pair.ours, pair.theirs):
                server.wait_healthy("/ping", timeout=180)
        yield Servers(*pairs)
    finally:
        for pair in pairs:
            for client in pair.clients.values():
                client.close()
            pair.ours.stop()
            pair.theirs.stop()


def _send(pair: Pair, server: ServerProcess, case: Case) -> httpx.Response:
    client = pair.clients[server.url]
    response = client.request(
        case.method, case.path, content=case.content(), headers=case.headers()
    )
    if response.status_code >= 500:  # MLflow drops the connection after its 500, unsaid
        client.close()
        pair.clients[server.url] = httpx.Client(base_url=server.url, timeout=60)
    return response


def _check_our_error(response: httpx.Response, case: Case) -> dict[str, Any]:
    """petalflow's error body: JSON with MLflow's keys beside its own, nothing internal."""
    assert response.headers["content-type"] == JSON, case.name
    body: dict[str, Any] = response.json()
    assert {"error", "message", "details", "request_id"} <= set(body), body
    assert body["request_id"] == response.headers["x-request-id"]
    if case.path == "/invocations":
        assert isinstance(body["error_code"], str) and body["message"], body
    for leak in LEAKS:
        assert leak not in response.text, (case.name, leak)
    return body


def _compare(pair: Pair, case: Case) -> None:
    ours, theirs = _send(pair, pair.ours, case), _send(pair, pair.theirs, case)
    label = f"{case.name} ({case.origin}): petalflow {ours.status_code} {ours.text[:300]!r}, "
    label += f"mlflow {theirs.status_code} {theirs.text[:300]!r}"
    if case.differs is not None:
        documented = DIFFERENCES[case.differs]
        assert (theirs.status_code, ours.status_code) == (
            documented.mlflow,
            documented.petalflow,
        ), label
        _check_our_error(ours, case)
        return
    assert ours.status_code == theirs.status_code, label
    if theirs.status_code == 200 and case.path == "/invocations":
        assert ours.json() == theirs.json(), label
    elif theirs.status_code == 200:  # /ping, /version: MLflow's very bytes
        assert (ours.content, ours.headers["content-type"]) == (
            theirs.content,
            theirs.headers["content-type"],
        ) or case.path == "/health", label
    else:
        body = _check_our_error(ours, case)
        if theirs.headers["content-type"] == JSON and "error_code" in theirs.json():
            assert body["error_code"] == theirs.json()["error_code"], label


@pytest.mark.parametrize("case", IRIS_CASES, ids=lambda case: case.name)
def test_mlflow_compat_iris_case_answers_as_mlflow_models_serve(
    servers: Servers, case: Case
) -> None:
    _compare(servers.iris, case)


@pytest.mark.parametrize("case", PENGUIN_CASES, ids=lambda case: case.name)
def test_mlflow_compat_penguins_case_answers_as_mlflow_models_serve(
    servers: Servers, case: Case
) -> None:
    _compare(servers.penguins, case)


def test_mlflow_compat_penguins_whole_table_gets_the_same_predictions(servers: Servers) -> None:
    contract = ModelContract.model_validate_json(
        (servers.penguins.artifacts / "contract.json").read_text()
    )
    codec = RowCodec(contract)
    rows = [codec.decode_row(row) for row in contract.verification_rows]
    assert any(value is None for row in rows for value in row.values())  # nulls included
    case = table_case(rows)
    pair = servers.penguins
    ours, theirs = _send(pair, pair.ours, case), _send(pair, pair.theirs, case)
    assert (ours.status_code, theirs.status_code) == (200, 200), ours.text
    assert ours.json() == theirs.json()
    assert len(ours.json()["predictions"]) == len(rows) >= 300


def test_mlflow_compat_ignored_columns_are_logged_once_and_counted(servers: Servers) -> None:
    pair = servers.iris
    record = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    payload = {"dataframe_records": [{**record, "compat_marker_column": 1}]}
    for _ in range(3):
        answer = httpx.post(pair.ours.url + "/invocations", json=payload)
        assert answer.json() == {"predictions": ["setosa"]}
    metrics = httpx.get(pair.ours.url + "/metrics").text
    counted = re.search(
        r'^petalflow_invocations_ignored_inputs_total\{kind="column"\} (\S+)$', metrics, re.M
    )
    assert counted is not None and float(counted.group(1)) >= 3
    time.sleep(0.2)  # the log line is flushed after the answer
    lines = [line for line in pair.ours.output().splitlines() if "compat_marker_column" in line]
    assert len(lines) == 1, lines
    assert json.loads(lines[0])["level"] == "WARNING"


def _readme_table() -> list[str]:
    """The first column of the README's compatibility table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Compatibility with `mlflow models serve`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [row.split(" | ")[0].removeprefix("| ").strip() for row in rows[1:]]


def test_mlflow_compat_readme_table_lists_exactly_the_allowed_differences() -> None:
    assert _readme_table() == [difference.title for difference in DIFFERENCES.values()]
    used = {case.differs for case in (*IRIS_CASES, *PENGUIN_CASES)} - {None}
    assert used == set(DIFFERENCES)


def test_mlflow_compat_cases_are_many_and_named_after_their_origin() -> None:
    cases = [*IRIS_CASES, *PENGUIN_CASES]
    assert len(IRIS_CASES) >= 60 and len(PENGUIN_CASES) >= 20
    assert len({c.name for c in IRIS_CASES}) == len(IRIS_CASES)
    assert len({c.name for c in PENGUIN_CASES}) == len(PENGUIN_CASES)
    assert all(c.origin for c in cases)
    origins = " ".join(c.origin for c in cases)
    assert "scoring_server::" in origins and "schema_enforcement::" in origins
