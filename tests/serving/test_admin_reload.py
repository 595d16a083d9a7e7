"""Identity and POST /admin/reload through the ASGI app, served from an artifacts folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from petalflow.serving.app import create_app
from tests.conftest import ChildRuns, make_settings, pipeline_answer, wait_for_fast_path

ROW = {"sepal_length": 6.0, "sepal_width": 2.7, "petal_length": 5.1, "petal_width": 1.6}


def _info(folder: Path) -> dict[str, object]:
    return dict(json.loads((folder / "model_info.json").read_text()))


def _failures(client: TestClient) -> float:
    text = client.get("/metrics").text
    found = re.search(r"^petalflow_reload_failures_total (\S+)$", text, re.MULTILINE)
    assert found
    return float(found.group(1))


@pytest.fixture()
def served(tmp_path: Path, trained: Path) -> Path:
    """A copy of the logreg artifacts that the test may replace while it is served."""
    return Path(shutil.copytree(trained, tmp_path / "artifacts"))


def test_model_names_the_logged_model_and_no_registry_entry(served: Path) -> None:
    with TestClient(create_app(make_settings(served))) as client:
        body = client.get("/model").json()
    info = _info(served)
    assert body["model_version"] == info["run_id"]
    assert body["model_id"] == str(info["model_uri"]).removeprefix("models:/")
    assert body["registered_model"] is None
    assert body["source"] == str(served)


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/predict", ROW),
        ("/predict/batch", {"instances": [ROW, ROW]}),
        ("/invocations", {"dataframe_records": [ROW]}),
    ],
)
def test_every_prediction_response_names_its_model_version(
    api: TestClient, trained: Path, path: str, payload: object
) -> None:
    response = api.post(path, json=payload)
    assert response.status_code == 200
    assert response.headers["x-model-version"] == _info(trained)["run_id"]
    if path != "/invocations":
        assert response.json()["model_version"] == response.headers["x-model-version"]


def test_errors_and_other_routes_carry_no_model_version(api: TestClient) -> None:
    assert "x-model-version" not in api.post("/predict", json={}).headers
    assert "x-model-version" not in api.get("/model").headers


def test_admin_reload_switches_to_new_artifacts(
    served: Path, trained_rf: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = _info(served)["run_id"], _info(trained_rf)["run_id"]
    with TestClient(create_app(make_settings(served))) as client, caplog.at_level("INFO"):
        unchanged = client.post("/admin/reload").json()
        assert (unchanged["outcome"], unchanged["switched"]) == ("unchanged", False)
        assert unchanged["model_version"] == old
        for item in trained_rf.iterdir():  # a new training into the served folder
            if item.is_file():
                shutil.copy2(item, served / item.name)
        answer = client.post("/admin/reload").json()
        prediction = client.post("/predict", json=ROW)
        model = client.get("/model").json()
        metrics = client.get("/metrics").text
        schema = client.get("/openapi.json")
    assert (answer["outcome"], answer["switched"], answer["model_version"]) == (
        "switched",
        True,
        new,
    )
    assert model["model_version"] == new and model["source"] == str(served)
    want = pipeline_answer(trained_rf, ROW)
    assert prediction.headers["x-model-version"] == prediction.json()["model_version"] == new
    assert prediction.json()["class_probabilities"] == pytest.approx(want, abs=1e-12)
    info_lines = [line for line in metrics.splitlines() if line.startswith("petalflow_model_info")]
    assert len(info_lines) == 1 and f'model_version="{new}"' in info_lines[0]
    assert schema.status_code == 200
    reloads = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload:")]
    assert len(reloads) == 1 and f"serving model {new}" in reloads[0]  # the same contract


def test_admin_reload_refuses_a_tampered_model_and_keeps_serving(served: Path) -> None:
    old = _info(served)["run_id"]
    with TestClient(create_app(make_settings(served))) as client:
        assert _failures(client) == 0
        info = _info(served)
        info["sha256"] = "0" * 64  # model.joblib no longer matches: refused unread
        (served / "model_info.json").write_text(json.dumps(info))
        answer = client.post("/admin/reload")
        prediction = client.post("/predict", json=ROW).json()
        failures = _failures(client)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["outcome"], body["switched"], body["model_version"]) == ("refused", False, old)
    assert "model.joblib" not in answer.text  # the reason is in the server log only
    assert body["detail"].endswith("was refused; the server log says why")
    assert prediction["model_version"] == old
    assert failures == 1


def test_admin_reload_decodes_the_candidate_in_a_child_process(
    served: Path, trained_rf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up decodes here (its fast path is verified by ``StartupVerifier``); a
    reload's candidate is decoded, then its fast path compiled and verified, each in a
    child process (``in_child``)."""
    from petalflow.serving import app as app_module

    children = ChildRuns()
    monkeypatch.setattr(app_module, "in_child", children)
    with TestClient(create_app(make_settings(served))) as client:
        wait_for_fast_path(client.get)
        assert children.pids == []
        for item in trained_rf.iterdir():
            if item.is_file():
                shutil.copy2(item, served / item.name)
        answer = client.post("/admin/reload").json()
        prediction = client.post("/predict", json=ROW).json()
    assert (
        answer["outcome"] == "switched" and prediction["model_version"] == answer["model_version"]
    )
    assert len(children.pids) == 2 and os.getpid() not in children.pids
    want = pipeline_answer(trained_rf, ROW)
    assert prediction["class_probabilities"] == pytest.approx(want, abs=1e-12)


def test_admin_reload_switches_to_a_retraining_that_only_changed_the_contract(
    served: Path,
) -> None:
    # The same model bytes under a new run whose contract moved a bound (a user widening
    # an inferred bound, or here narrowing one): "unchanged" kept the old rules.
    from petalflow.core import artifacts

    contract = json.loads((served / "contract.json").read_text())
    petal = next(f for f in contract["features"] if f["name"] == "petal_length")
    petal["le"] = 5.0  # ROW's 5.1 is now out of bounds
    artifacts.write_json(served / "contract.json.new", contract)
    info = _info(served)
    new_run = "f" * 32
    info.update(run_id=new_run, contract_sha256=artifacts.json_sha256(contract))
    with TestClient(create_app(make_settings(served))) as client:
        assert client.post("/predict", json=ROW).status_code == 200
        os.replace(served / "contract.json.new", served / "contract.json")
        (served / "model_info.json").write_text(json.dumps(info))
        answer = client.post("/admin/reload").json()
        refused = client.post("/predict", json=ROW)
    assert (answer["outcome"], answer["model_version"]) == ("switched", new_run)
    assert f"(run {new_run}, sha256 " in answer["detail"]
    assert refused.status_code == 422 and "petal_length" in refused.text
    assert "less than or equal to 5" in refused.text
