"""Identity and hot reload on a real `uvicorn serve:app` with a real sqlite MLflow registry:
the alias moves under a bounded concurrent load, and every answer comes from one model."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, ServerProcess, python_env, train_into, uvicorn_args

pytestmark = pytest.mark.e2e
NAME = "iris-classifier"
URI = f"models:/{NAME}@champion"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# Rows on both sides of the class boundaries, so that the two models' answers differ.
ROWS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.0, 2.7, 5.1, 1.6],
    [6.3, 2.9, 5.6, 1.8],
    [5.9, 3.0, 4.2, 1.5],
    [6.7, 3.0, 5.0, 1.7],
]
CLIENTS = 4  # loopback, a few seconds: bounded


@dataclass
class Registry:
    """Two registered versions of the same model: version 1 behind @champion."""

    tracking_uri: str
    client: MlflowClient
    run_ids: dict[str, str]  # registry version -> training run id
    model_ids: dict[str, str]  # registry version -> MLflow logged-model id
    oracle: dict[str, Any] = field(default_factory=dict)  # run id -> pipeline (MLflow's)

    def move(self, version: str) -> None:
        self.client.set_registered_model_alias(NAME, "champion", version)


@pytest.fixture()
def registry(tmp_path: Path, tracking_uri: str) -> Registry:
    one = train_into(tmp_path / "v1", "--register-model", NAME, "--alias", "champion")
    two = train_into(tmp_path / "v2", "--register-model", NAME, "--C", "0.05")
    client = MlflowClient(tracking_uri)
    run_ids, model_ids, oracle = {}, {}, {}
    for version, folder in (("1", one), ("2", two)):
        info = json.loads((folder / "model_info.json").read_text())
        assert client.get_model_version(NAME, version).run_id == info["run_id"]
        run_ids[version] = info["run_id"]
        model_ids[version] = mlflow.models.get_model_info(f"models:/{NAME}/{version}").model_id
        # The oracle: MLflow's own load of each version, independent of petalflow's loader.
        oracle[info["run_id"]] = mlflow.sklearn.load_model(f"models:/{NAME}/{version}")
    found = Registry(tracking_uri, client, run_ids, model_ids, oracle)
    # The two models must answer differently, or "from one model" would prove nothing.
    one_answers = [expected(found, run_ids["1"], row) for row in ROWS]
    two_answers = [expected(found, run_ids["2"], row) for row in ROWS]
    assert all(
        a != pytest.approx(b, abs=1e-3) for a, b in zip(one_answers, two_answers, strict=True)
    )
    return found


def expected(registry: Registry, version: str, row: list[float]) -> dict[str, float]:
    pipeline = registry.oracle[version]
    proba = pipeline.predict_proba(pd.DataFrame([row], columns=FEATURES))[0]
    return dict(zip([str(c) for c in pipeline.classes_], proba.tolist(), strict=True))


class Load:
    """CLIENTS threads posting /predict and /predict/batch until stopped."""

    def __init__(self, url: str) -> None:
        self.url, self.stopped = url, threading.Event()
        self.answers: list[tuple[int, str | None, Any, list[list[float]]]] = []
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def _run(self, worker: int) -> None:
        i = worker
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stopped.is_set():
                i += 1
                row = ROWS[i % len(ROWS)]
                try:
                    if i % 3:
                        r = http.post("/predict", json=dict(zip(FEATURES, row, strict=True)))
                        rows = [row]
                    else:
                        rows = [ROWS[(i + k) % len(ROWS)] for k in range(3)]
                        instances = [dict(zip(FEATURES, x, strict=True)) for x in rows]
                        r = http.post("/predict/batch", json={"instances": instances})
                except httpx.HTTPError as exc:
                    self.errors.append(exc)
                    continue
                body = r.json() if r.status_code == 200 else r.text
                self.answers.append((r.status_code, r.headers.get("x-model-version"), body, rows))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def check(self, registry: Registry) -> set[str]:
        """Every answer 200, from one model: header = body version, probabilities = that
        model's; returns the versions seen."""
        assert self.errors == []
        assert self.answers, "the load sent nothing"
        assert [a for a in self.answers if a[0] != 200] == []
        seen = set()
        for _, header, body, rows in self.answers:
            version = body["model_version"]
            assert header == version
            seen.add(version)
            answers = body.get("predictions", [body])
            for row, answer in zip(rows, answers, strict=True):
                want = expected(registry, version, row)
                assert answer["class_probabilities"] == pytest.approx(want, rel=0, abs=1e-12)
                assert answer["predicted_label"] == max(want, key=want.__getitem__)
        return seen


@pytest.fixture()
def serve(tmp_path: Path, registry: Registry) -> Iterator[Any]:
    servers: list[ServerProcess] = []

    def start(interval: str) -> ServerProcess:
        env = python_env(
            MODEL_URI=URI,
            MLFLOW_TRACKING_URI=registry.tracking_uri,
            RELOAD_INTERVAL=interval,
            PREDICTION_LOG=str(tmp_path / "predictions.db"),
        )
        server = ServerProcess(uvicorn_args(), env, ROOT, tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in servers:
        server.stop()


def _wait_for_version(url: str, run_id: str, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if httpx.get(url + "/model").json()["model_version"] == run_id:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"/model did not switch to {run_id} within {within} s")


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_served_from_an_alias_says_which_version_and_model_answered(
    serve: Any, registry: Registry
) -> None:
    server = serve("0")
    model = httpx.get(server.url + "/model").json()
    run_id = registry.run_ids["1"]
    assert model["model_version"] == model["run_id"] == run_id
    assert model["model_id"] == registry.model_ids["1"] and model["model_id"].startswith("m-")
    assert model["registered_model"] == {"name": NAME, "version": "1", "alias": "champion"}
    assert model["source"] == URI
    row = dict(zip(FEATURES, ROWS[2], strict=True))
    payloads = {
        "/predict": row,
        "/predict/batch": {"instances": [row, row]},
        "/invocations": {"dataframe_records": [row]},
    }
    for path, payload in payloads.items():
        response = httpx.post(server.url + path, json=payload)
        assert response.status_code == 200
        assert response.headers["x-model-version"] == run_id
        if path != "/invocations":  # MLflow's protocol has no version in its body
            assert response.json()["model_version"] == run_id
    info = next(
        line
        for line in httpx.get(server.url + "/metrics").text.splitlines()
        if line.startswith("petalflow_model_info{")
    )
    for label in (
        f'model_version="{run_id}"',
        f'model_id="{registry.model_ids["1"]}"',
        f'registered_model="{NAME}"',
        'registered_version="1"',
        'registered_alias="champion"',
        f'source="{URI}"',
    ):
        assert label in info
    assert info.endswith(" 1.0")


def test_moving_the_alias_under_load_switches_within_the_interval(
    serve: Any, registry: Registry, tmp_path: Path
) -> None:
    server = serve("1")
    old, new = registry.run_ids["1"], registry.run_ids["2"]
    with Load(server.url) as load:
        time.sleep(1.0)
        registry.move("2")
        took = _wait_for_version(server.url, new, within=1 + 5)
        time.sleep(1.0)  # answers from the new model, under the same load
    assert took <= 6
    assert load.check(registry) == {old, new}
    model = httpx.get(server.url + "/model").json()
    assert model["registered_model"] == {"name": NAME, "version": "2", "alias": "champion"}
    assert model["model_id"] == registry.model_ids["2"]
    metrics = httpx.get(server.url + "/metrics").text
    assert re.search(rf'petalflow_model_info{{[^}}]*model_version="{new}"[^}}]*}} 1\.0', metrics)
    assert f'model_version="{old}"' not in metrics.split("petalflow_model_info")[1]
    assert _metric(metrics, "petalflow_reload_failures_total") == 0
    lines = server.json_lines()
    assert any(
        "reload: serving model " + new in line["message"]
        and "instead of model " + old in line["message"]
        for line in lines
        if "message" in line
    )
    access = [line for line in lines if line.get("path") == "/predict"]
    assert {line["model_version"] for line in access} == {old, new}
    drift = httpx.get(server.url + "/monitoring/drift").json()  # also flushes the log
    assert drift["model_version"] == new  # monitoring judges what is served now
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        logged = {v for (v,) in db.execute("SELECT DISTINCT model_version FROM predictions")}
    assert logged == {old, new}


def test_admin_reload_switches_on_demand_with_polling_off(serve: Any, registry: Registry) -> None:
    server = serve("0")
    old, new = registry.run_ids["1"], registry.run_ids["2"]
    with Load(server.url) as load:
        time.sleep(0.5)
        registry.move("2")
        time.sleep(1.5)  # RELOAD_INTERVAL=0: nothing polls
        assert httpx.get(server.url + "/model").json()["model_version"] == old
        answer = httpx.post(server.url + "/admin/reload", timeout=60)
        assert httpx.get(server.url + "/model").json()["model_version"] == new
        time.sleep(0.5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["switched"] is True and body["outcome"] == "switched"
    assert body["model_version"] == new
    assert body["registered_model"] == {"name": NAME, "version": "2", "alias": "champion"}
    assert load.check(registry) == {old, new}
    again = httpx.post(server.url + "/admin/reload", timeout=60).json()
    assert again["switched"] is False and again["outcome"] == "unchanged"


def _register_broken_version(registry: Registry, folder: Path) -> str:
    """A version whose model files cannot be loaded (a copy of version 1, corrupted)."""
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{NAME}/1", dst_path=str(folder), tracking_uri=registry.tracking_uri
    )
    (folder / "model.skops").write_bytes(b"not a model")
    return str(registry.client.create_model_version(NAME, source=str(folder)).version)


def test_an_alias_moved_to_a_broken_version_leaves_the_old_model_serving(
    serve: Any, registry: Registry, tmp_path: Path
) -> None:
    server = serve("1")
    old = registry.run_ids["1"]
    broken = _register_broken_version(registry, tmp_path / "broken")
    with Load(server.url) as load:
        time.sleep(0.5)
        registry.move(broken)
        start = time.monotonic()
        while (
            _metric(httpx.get(server.url + "/metrics").text, "petalflow_reload_failures_total") < 1
        ):
            assert time.monotonic() - start < 1 + 5, "the broken version was not refused in time"
            time.sleep(0.1)
        time.sleep(1.5)  # more polls: the refused version is not retried on the timer
    assert load.check(registry) == {old}
    metrics = httpx.get(server.url + "/metrics").text
    assert _metric(metrics, "petalflow_reload_failures_total") == 1
    model = httpx.get(server.url + "/model").json()
    assert model["model_version"] == old and model["registered_model"]["version"] == "1"
    refused = [line for line in server.json_lines() if "reload refused" in line.get("message", "")]
    assert len(refused) == 1 and refused[0]["level"] == "ERROR"
    assert f"{URI} version {broken}" in refused[0]["message"]
    assert "Traceback" not in server.output()
    answer = httpx.post(server.url + "/admin/reload", timeout=60).json()  # retried on demand
    assert answer["outcome"] == "refused" and answer["model_version"] == old
    assert str(tmp_path) not in json.dumps(answer)
    metrics = httpx.get(server.url + "/metrics").text
    assert _metric(metrics, "petalflow_reload_failures_total") == 2


def test_relative_artifacts_dir_leaks_no_server_path(tmp_path: Path, trained: Path) -> None:
    shutil.copytree(trained, tmp_path / "artifacts")
    env = python_env(ARTIFACTS_DIR="artifacts", PREDICTION_LOG="predictions.db", MODEL_URI=None)
    args = uvicorn_args("--app-dir", str(ROOT))
    server = ServerProcess(args, env, tmp_path, tmp_path / "server.log")
    try:
        server.wait_healthy()
        row = dict(zip(FEATURES, ROWS[0], strict=True))
        assert httpx.post(server.url + "/predict", json=row).status_code == 200
        model = httpx.get(server.url + "/model")
        metrics = httpx.get(server.url + "/metrics")
    finally:
        server.stop()
    info = json.loads((trained / "model_info.json").read_text())
    body = model.json()
    assert body["source"] == "artifacts"
    assert body["registered_model"] is None
    assert body["model_id"] == info["model_uri"].removeprefix("models:/")
    for text in (model.text, metrics.text):
        assert str(tmp_path) not in text and str(ROOT) not in text
    assert 'source="artifacts"' in metrics.text
