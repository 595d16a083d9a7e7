"""The server verifies and serves a model without importing any training code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, python_env

# Run in a fresh interpreter where importing petalflow.training (or anything under it)
# raises, then serve a prediction through the whole app and report what was served.
_PROGRAM = """
import importlib.abc, json, sys, time
from pathlib import Path

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "petalflow.training" or name.startswith("petalflow.training."):
            raise ImportError(f"the server imported {name}")
        return None

sys.meta_path.insert(0, Refuse())
from fastapi.testclient import TestClient
from petalflow.serving.app import create_app
from petalflow.serving.settings import Settings

settings = Settings(
    artifacts_dir=Path(sys.argv[1]), model_uri=sys.argv[2] or None, prediction_log=""
)
row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
with TestClient(create_app(settings)) as client:
    answer = client.post("/predict", json=row).json()
    deadline = time.monotonic() + 120  # the fast path is verified after start-up
    while not (model := client.get("/model").json())["fast_path"] and time.monotonic() < deadline:
        time.sleep(0.01)
print(json.dumps({"answer": answer, "fast_path": model["fast_path"],
                  "training": sorted(m for m in sys.modules if m.startswith("petalflow.training"))}))
"""


def _serve_without_training(artifacts: Path, model_uri: str, tracking_uri: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(artifacts), model_uri],
        cwd=ROOT,
        env=python_env(MLFLOW_TRACKING_URI=tracking_uri),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("source", ["artifacts", "runs"])
def test_server_serves_without_importing_training(
    trained: Path, isolated_tracking: str, source: str
) -> None:
    run_id = json.loads((trained / "model_info.json").read_text())["run_id"]
    uri = f"runs:/{run_id}/model" if source == "runs" else ""
    report = _serve_without_training(trained, uri, isolated_tracking)
    assert report["training"] == []
    assert report["fast_path"] is True  # verified from the contract, no training data
    assert report["answer"]["model_version"] == run_id
    assert report["answer"]["predicted_label"] == "setosa"
