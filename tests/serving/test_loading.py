"""Model sources: every MLflow URI form serves the same model as the local artifacts."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from petalflow.core.errors import ModelIntegrityError, ModelLoadError
from petalflow.serving.app import create_app
from petalflow.serving.lifecycle.sources import UriSource
from petalflow.serving.loading import in_process, load_from_artifacts, load_model
from tests.conftest import ChildRuns, make_settings, train_into

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}


@pytest.fixture()
def registered(tmp_path: Path, tracking_uri: str) -> Path:
    return train_into(
        tmp_path / "art", "--register-model", "iris-classifier", "--alias", "champion"
    )


def _serve(settings_dir: Path, **overrides: object) -> dict[str, object]:
    with TestClient(create_app(make_settings(settings_dir, **overrides))) as client:
        body = client.post("/predict", json=ROW).json()
        body["source"] = client.get("/model").json()["source"]
        return body


def test_every_uri_form_serves_the_run_of_the_local_artifacts(registered: Path) -> None:
    info = json.loads((registered / "model_info.json").read_text())
    local = _serve(registered)
    for uri in (
        "models:/iris-classifier@champion",
        "models:/iris-classifier/1",
        f"runs:/{info['run_id']}/model",
        info["model_uri"],
    ):
        remote = _serve(registered, model_uri=uri)
        assert remote["model_version"] == local["model_version"] == info["run_id"], uri
        assert remote["class_probabilities"] == local["class_probabilities"], uri
        assert remote["source"] == uri


def test_uri_source_carries_training_params_metrics_and_reference(registered: Path) -> None:
    model = load_model("models:/iris-classifier@champion", registered)
    local = load_from_artifacts(registered)
    assert model.params == local.params and model.metrics == local.metrics
    assert model.reference == local.reference and model.sha256 == local.sha256


def test_uri_source_decodes_its_model_with_its_runner(registered: Path, tracking_uri: str) -> None:
    children = ChildRuns()
    source = UriSource("models:/iris-classifier@champion", tracking_uri, children)
    model = source.load(source.latest())
    local = load_from_artifacts(registered)
    assert len(children.pids) == 1 and model.model_version == local.model_version
    frame = pd.DataFrame([ROW])
    np.testing.assert_array_equal(
        model.pipeline.predict_proba(frame), local.pipeline.predict_proba(frame)
    )


@pytest.mark.parametrize(
    "uri", ["models:/iris-classifier@nope", "models:/iris-classifier/9", "models:/nobody/1"]
)
def test_unknown_registry_reference_is_a_clear_load_error(registered: Path, uri: str) -> None:
    with pytest.raises(
        ModelLoadError, match=r"cannot load model .*check the name, version or alias"
    ):
        load_model(uri, registered)


def test_changed_model_file_is_refused_before_unpickling(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "art"
    shutil.copytree(trained, copy)
    data = bytearray((copy / "model.joblib").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.joblib").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"refusing to load it; retrain"):
        load_from_artifacts(copy)


@pytest.mark.parametrize("damage", ["deleted", "loosened"])
def test_a_missing_or_changed_contract_is_refused(
    trained: Path, tmp_path: Path, damage: str
) -> None:
    # Without its contract (or with another) the server would check types only, or
    # other bounds: the folder records the contract it was trained with.
    import shutil

    copy = Path(shutil.copytree(trained, tmp_path / "art"))
    contract = copy / "contract.json"
    if damage == "deleted":
        contract.unlink()
        state = "is missing"
    else:
        document = json.loads(contract.read_text())
        document["features"][0]["ge"] = -1000.0
        contract.write_text(json.dumps(document, sort_keys=True, indent=2) + "\n")
        state = "has sha256 "
    expected = rf"contract.json {state}.*model_info.json records .*restore them or retrain"
    with pytest.raises(ModelIntegrityError, match=expected):
        load_from_artifacts(copy)


def test_a_model_trained_before_contracts_still_loads(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(trained, tmp_path / "art"))
    info = json.loads((copy / "model_info.json").read_text())
    del info["contract_sha256"]
    (copy / "model_info.json").write_text(json.dumps(info))
    (copy / "contract.json").unlink()
    loaded = load_from_artifacts(copy)
    assert loaded.contract.feature_names == info["feature_names"]
    assert all(f.ge is None and f.le is None for f in loaded.contract.features)


def test_load_from_an_empty_folder_says_how_to_train_into_that_folder(tmp_path: Path) -> None:
    folder = tmp_path / "nonexistent"
    expected = (
        rf"no model at {re.escape(str(folder / 'model.joblib'))}; train into it "
        rf"\(`python train.py --artifacts-dir {re.escape(str(folder))}`\)"
    )
    with pytest.raises(ModelLoadError, match=expected):
        load_from_artifacts(folder)


def test_a_model_file_that_does_not_decode_is_refused_naming_it(
    trained: Path, tmp_path: Path
) -> None:
    # Truncated, its sha256 recorded anew (a copy that went wrong before it was hashed).
    import shutil

    copy = Path(shutil.copytree(trained, tmp_path / "art"))
    model = copy / "model.joblib"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    info = json.loads((copy / "model_info.json").read_text())
    info["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (copy / "model_info.json").write_text(json.dumps(info))
    expected = rf"cannot decode the model file of {re.escape(str(model))} \(.*\): it is damaged"
    with pytest.raises(ModelLoadError, match=expected):
        load_from_artifacts(copy)


def test_a_model_file_missing_from_the_store_is_called_missing_not_damaged(
    tmp_path: Path,
) -> None:
    # A version whose files were deleted (or are not uploaded yet): "damaged" misled.
    from petalflow.serving.lifecycle.isolation import in_child
    from petalflow.serving.loading import _decoded

    gone = tmp_path / "model" / "model.skops"
    for run in (in_process, in_child):  # decoded in this process, or in a child
        with pytest.raises(
            ModelLoadError,
            match=r"^a file of the model of runs:/1/model is missing \(model\.skops\): deleted, "
            r"or not uploaded yet; upload it again, retrain, or serve another model$",
        ):
            _decoded(run, lambda: gone.read_bytes(), "runs:/1/model")


def test_a_model_path_loads_without_the_tracking_store(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A saved model's folder needs no tracking store: a store file that is not there is
    # no reason to refuse it (only models:/ and runs:/ URIs are refused then).
    import joblib
    import mlflow

    saved = tmp_path / "saved"
    mlflow.sklearn.save_model(
        joblib.load(trained / "model.joblib"), saved, serialization_format="pickle"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    from petalflow.serving.loading import load_from_uri

    model = load_from_uri(str(saved))
    assert model.class_names == ["setosa", "versicolor", "virginica"]
    assert not (tmp_path / "none").exists()
    with pytest.raises(ModelLoadError, match="there is no MLflow store at"):
        load_from_uri("models:/iris-classifier@champion")
    assert not (tmp_path / "none").exists()
