"""A shadow challenger on a real uvicorn, served from the registry: clients get exactly the
champion's answers; /monitoring/shadow's numbers match what this test computes from the
two registered models itself; a shadow whose predict raises fails no request."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from petalflow.__main__ import main as petalflow_main
from tests.conftest import train_into

pytestmark = pytest.mark.e2e

NAME = "iris-classifier"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture()
def registry(tmp_path: Path, tracking_uri: str) -> dict[str, Path]:
    """A logistic regression as champion, a small forest as challenger, in a fresh store."""
    champion = train_into(tmp_path / "champion", "--register-model", NAME, "--alias", "champion")
    challenger = train_into(
        tmp_path / "challenger",
        *("--model", "rf", "--n-estimators", "30", "--max-depth", "2"),
        *("--register-model", NAME, "--alias", "challenger"),
    )
    return {"champion": champion, "challenger": challenger}


def labelled_rows(n: int, seed: int = 5) -> tuple[list[dict[str, float]], list[str]]:
    """Iris rows with noise (so that the two models disagree now and then) and their
    species: the ground truth the test posts as feedback."""
    iris = load_iris()
    draw = np.random.default_rng(seed)
    picked = draw.choice(len(iris.target), size=n, replace=False)
    noisy = iris.data[picked] + draw.normal(0, 0.35, size=(n, 4))
    noisy = np.clip(np.round(noisy, 2), 0.1, None)
    rows = [dict(zip(FEATURES, map(float, r), strict=True)) for r in noisy]
    return rows, [str(iris.target_names[t]) for t in iris.target[picked]]


def post(client: httpx.Client, path: str, body: Any, request_id: str) -> httpx.Response:
    response = client.post(path, json=body, headers={"X-Request-ID": request_id})
    assert response.status_code == 200, response.text
    return response


def send_traffic(client: httpx.Client, rows: list[dict[str, float]]) -> dict[str, Any]:
    """Half the rows one by one on /predict, the rest in batches of 8; the answers by
    feedback id (``<id>`` or ``<id>:<row>``), in row order."""
    answers: dict[str, Any] = {}
    half = len(rows) // 2
    for row in rows[:half]:
        rid = uuid.uuid4().hex
        answers[rid] = post(client, "/predict", row, rid).json()
    for start in range(half, len(rows), 8):
        rid = uuid.uuid4().hex
        body = post(client, "/predict/batch", {"instances": rows[start : start + 8]}, rid).json()
        for i, answer in enumerate(body["predictions"]):
            answers[f"{rid}:{i}"] = {**answer, "model_version": body["model_version"]}
    return answers


def counter(text: str, name: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


def test_a_shadow_challenger_is_compared_on_live_traffic_and_feedback(
    start_server, registry: dict[str, Path], tmp_path: Path
) -> None:
    server = start_server(
        {
            "MODEL_URI": f"models:/{NAME}@champion",
            "SHADOW_MODEL_URI": f"models:/{NAME}@challenger",
        }
    )
    champion = mlflow.sklearn.load_model(f"models:/{NAME}@champion")
    challenger = mlflow.sklearn.load_model(f"models:/{NAME}@challenger")
    client_versions = mlflow.MlflowClient()
    versions = {
        alias: client_versions.get_model_version_by_alias(NAME, alias).run_id
        for alias in ("champion", "challenger")
    }
    rows, truth = labelled_rows(80)
    frame = pd.DataFrame(rows, columns=FEATURES)
    ours, theirs = champion.predict(frame), challenger.predict(frame)
    assert 0 < (ours != theirs).sum() < len(rows)  # the comparison has something to show
    expected_proba = champion.predict_proba(frame)

    with httpx.Client(base_url=server.url, timeout=30) as client:
        answers = send_traffic(client, rows)
        # Clients get exactly the champion's answers.
        for i, answer in enumerate(answers.values()):
            assert answer["model_version"] == versions["champion"]
            assert answer["predicted_label"] == ours[i]
            got = [answer["class_probabilities"][str(c)] for c in champion.classes_]
            np.testing.assert_allclose(got, expected_proba[i], rtol=0, atol=1e-9)
        labelled = list(answers)[::2]  # feedback on every other row
        for feedback_id in labelled:
            i = list(answers).index(feedback_id)
            body = {"request_id": feedback_id, "true_label": truth[i]}
            assert client.post("/feedback", json=body).status_code == 200
        report = client.get("/monitoring/shadow").json()

    assert report["primary_version"] == versions["champion"]
    assert report["shadow_version"] == versions["challenger"]
    assert report["rows_compared"] == len(rows)
    assert report["agreement_rate"] == pytest.approx(float(np.mean(ours == theirs)))
    labels = [str(c) for c in champion.classes_]
    assert report["label_matrix"] == {
        "labels": labels,
        "counts": confusion_matrix(ours, theirs, labels=labels).tolist(),
    }
    index = [list(answers).index(f) for f in labelled]
    true = [truth[i] for i in index]
    assert report["labelled"]["n_labelled"] == len(labelled)
    f1 = {}
    for who, predicted in (("primary", ours), ("shadow", theirs)):
        mine = [str(predicted[i]) for i in index]
        assert report["labelled"][who]["accuracy"] == pytest.approx(accuracy_score(true, mine))
        f1[who] = f1_score(true, mine, average="macro")
        assert report["labelled"][who]["f1_macro"] == pytest.approx(f1[who])

    # The loop closes: promote weighs the same live answers (40 labelled rows >= 30).
    log = str(tmp_path / "predictions.db")  # where the start_server fixture puts it
    status = petalflow_main(["promote", "--model-name", NAME, "--prediction-log", log])
    version = client_versions.get_model_version_by_alias(NAME, "challenger").version
    scores = json.loads(client_versions.get_model_version(NAME, version).tags["promotion.scores"])
    assert scores["shadow"]["challenger"] == pytest.approx(f1["shadow"])
    assert scores["shadow"]["champion"] == pytest.approx(f1["primary"])
    assert status == (0 if all(s["challenger_better"] for s in scores.values()) else 1)


def register_broken_shadow(champion_dir: Path) -> str:
    """A registered model that loads (the champion's contract, a scikit-learn pipeline)
    but whose predict raises: math.sqrt of a DataFrame is a TypeError."""
    champion = mlflow.sklearn.load_model(f"models:/{NAME}@champion")
    broken = Pipeline([("sqrt", FunctionTransformer(math.sqrt)), *champion.steps])
    rows, _ = labelled_rows(5)
    signature = infer_signature(pd.DataFrame(rows, columns=FEATURES))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(champion_dir))  # contract.json, params, metrics
        mlflow.sklearn.log_model(
            broken, name="model", signature=signature, skops_trusted_types=["math.sqrt"]
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", NAME)
    mlflow.MlflowClient().set_registered_model_alias(NAME, "broken", version.version)
    return run.info.run_id


def test_a_shadow_that_raises_never_fails_a_request(
    start_server, registry: dict[str, Path]
) -> None:
    register_broken_shadow(registry["champion"])
    server = start_server(
        {"MODEL_URI": f"models:/{NAME}@champion", "SHADOW_MODEL_URI": f"models:/{NAME}@broken"}
    )
    champion = mlflow.sklearn.load_model(f"models:/{NAME}@champion")
    rows, _ = labelled_rows(40, seed=9)
    expected = champion.predict(pd.DataFrame(rows, columns=FEATURES))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answers = send_traffic(client, rows)  # every one 200
        report = client.get("/monitoring/shadow").json()  # drains the shadow's queue
        metrics = client.get("/metrics").text
    assert [a["predicted_label"] for a in answers.values()] == list(expected)
    assert report["rows_compared"] == 0
    requests = 20 + math.ceil(20 / 8)
    assert counter(metrics, "petalflow_shadow_failures_total") == requests
    failures = [line for line in server.output().splitlines() if "failed to score" in line]
    assert len(failures) == 1, failures  # once per episode
