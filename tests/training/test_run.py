"""train.py and petalflow.training.run in-process: artifacts, validation, the MLflow run."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris

import train
from petalflow.core import artifacts
from petalflow.training import config as cfg
from petalflow.training import data, tracking
from tests.conftest import ROOT, train_into

ARTIFACT_FILES = {
    "model.joblib",
    "metrics.json",
    "params.json",
    "confusion_matrix.json",
    "model_info.json",
    "reference_stats.json",
    "contract.json",
}

# What every Iris feature promises in contract.json (written out by hand: the oracle).
IRIS_FEATURE_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
EXPECTED_FEATURES = [
    {
        "name": name,
        "type": "float",
        "gt": 0,
        "le": 100,
        "ge": None,
        "lt": None,
        "categories": None,
        "nullable": False,
        "description": "cm, in (0, 100]",
    }
    for name in IRIS_FEATURE_NAMES
]


def _runs(client: MlflowClient) -> list:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def test_train_defaults_write_every_artifact(trained: Path) -> None:
    assert {p.name for p in trained.iterdir()} == ARTIFACT_FILES
    scores = json.loads((trained / "metrics.json").read_text())
    assert scores["accuracy"] >= 0.9
    assert scores["f1_macro"] >= 0.9
    for key in ("precision_macro", "recall_macro", "log_loss", "roc_auc_ovr"):
        assert key in scores
    for name in ("setosa", "versicolor", "virginica"):
        for prefix in ("precision", "recall", "f1", "support"):
            assert f"{prefix}_{name}" in scores
    assert sum(scores[f"support_{n}"] for n in ("setosa", "versicolor", "virginica")) == 30


def test_train_params_json_holds_every_resolved_value(trained: Path) -> None:
    params = json.loads((trained / "params.json").read_text())
    assert params == {
        "seed": 42,
        "test_size": 0.2,
        "model": "logreg",
        "C": 1.0,
        "max_iter": 1000,
        "n_estimators": 200,
        "max_depth": None,
        "artifacts_dir": str(trained),
        "experiment_name": "iris",
        "register_model": None,
        "alias": None,
        "dataset": "iris",
    }


def test_train_confusion_matrix_rows_are_true_classes(trained: Path) -> None:
    matrix = json.loads((trained / "confusion_matrix.json").read_text())
    assert matrix["labels"] == ["setosa", "versicolor", "virginica"]
    assert [sum(row) for row in matrix["matrix"]] == [10, 10, 10]


def test_train_model_info_records_run_and_hash(trained: Path) -> None:
    info = json.loads((trained / "model_info.json").read_text())
    assert set(info) == {
        "run_id",
        "experiment_id",
        "tracking_uri",
        "model_uri",
        "registered_model",
        "sha256",
        "contract_sha256",
        "feature_names",
        "class_names",
        "versions",
        "created_at",
    }
    assert info["sha256"] == artifacts.sha256_file(trained / "model.joblib")
    assert (
        info["contract_sha256"]
        == hashlib.sha256((trained / "contract.json").read_bytes()).hexdigest()
    )
    assert info["feature_names"] == list(data.FEATURE_NAMES) == IRIS_FEATURE_NAMES
    assert info["class_names"] == ["setosa", "versicolor", "virginica"]
    contract = json.loads((trained / "contract.json").read_text())
    assert info["feature_names"] == [f["name"] for f in contract["features"]]
    assert info["class_names"] == contract["classes"]
    assert info["registered_model"] is None
    assert set(info["versions"]) == {"python", "scikit-learn", "mlflow", "numpy"}
    assert info["tracking_uri"] == os.environ["MLFLOW_TRACKING_URI"]


def test_train_json_files_are_canonical(trained: Path) -> None:
    for name in artifacts.JSON_FILES:
        text = (trained / name).read_text()
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n", name


def test_train_writes_the_model_contract(trained: Path) -> None:
    contract = json.loads((trained / "contract.json").read_text())
    rows = contract.pop("verification_rows")
    assert contract == {
        "contract_version": 1,
        "dataset": "iris",
        "features": EXPECTED_FEATURES,
        "target": "species",
        "classes": ["setosa", "versicolor", "virginica"],
        "positive_class": None,
    }
    # Every Iris row, in scikit-learn's order and feature order, exactly.
    iris = load_iris()
    assert len(rows) == 150
    assert rows == np.asarray(iris.data, dtype=float).tolist()
    assert all(isinstance(v, float) for row in rows for v in row)


def test_train_contract_classes_follow_the_model(trained_rf: Path) -> None:
    contract = json.loads((trained_rf / "contract.json").read_text())
    model = joblib.load(trained_rf / "model.joblib")
    assert contract["classes"] == [str(c) for c in model.classes_]
    assert contract["features"] == EXPECTED_FEATURES


def test_train_artifacts_are_byte_identical_for_the_same_arguments(
    tmp_path: Path, trained: Path
) -> None:
    again = train_into(tmp_path / "again")
    for name in sorted(ARTIFACT_FILES - {"model_info.json", "params.json"}):
        assert (again / name).read_bytes() == (trained / name).read_bytes(), name
    # params.json differs only by the folder it names.
    first, second = (json.loads((d / "params.json").read_text()) for d in (trained, again))
    assert {**first, "artifacts_dir": str(again)} == second


def test_train_loads_and_splits_the_data_set_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"load": 0, "split": 0}
    real_load, real_split = data.load_raw, data.split_dataset

    def counting_load(*args: object) -> object:
        calls["load"] += 1
        return real_load(*args)  # type: ignore[arg-type]

    def counting_split(*args: object, **kwargs: object) -> object:
        calls["split"] += 1
        return real_split(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(data, "load_raw", counting_load)
    monkeypatch.setattr(data, "split_dataset", counting_split)
    train_into(tmp_path / "a", "--experiment-name", "once")
    assert calls == {"load": 1, "split": 1}


def test_train_logs_model_hyperparameters_and_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_into(tmp_path / "a", "--model", "rf", "--n-estimators", "10", "--max-depth", "3")
    out = capsys.readouterr().out
    assert "model=rf" in out
    assert "'n_estimators': 10" in out and "'max_depth': 3" in out
    assert "accuracy=" in out and "f1_macro=" in out


INVALID = [
    (["--test-size", "0"], "--test-size"),
    (["--test-size", "1"], "--test-size"),
    (["--test-size", "0.01"], "--test-size"),
    (["--test-size", "0.99"], "--test-size"),
    (["--C", "0"], "--C"),
    (["--C", "-1", "--model", "rf"], "--C"),
    (["--n-estimators", "0"], "--n-estimators"),
    (["--max-iter", "0", "--model", "rf"], "--max-iter"),
    (["--max-depth", "0"], "--max-depth"),
    (["--model", "svm"], "--model"),
    (["--seed", "x"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--artifacts-dir", "."], "--artifacts-dir"),
    (["--artifacts-dir", str(ROOT)], "--artifacts-dir"),
    (["--artifacts-dir", "/"], "--artifacts-dir"),
    (["--artifacts-dir", str(ROOT / "petalflow")], "--artifacts-dir"),
    (["--artifacts-dir", str(ROOT / "README.md")], "--artifacts-dir"),
    (["--alias", "champion"], "--alias"),
    (["--register-model", "m", "--alias", "latest"], "--alias"),
    (["--register-model", "m", "--alias", "v3"], "--alias"),
    (["--register-model", "a/b"], "--register-model"),
    (["--register-model", "a:b"], "--register-model"),
    (["--register-model", ".."], "--register-model"),
    (["--register-model", "."], "--register-model"),
]


@pytest.mark.parametrize(("argv", "flag"), INVALID)
def test_train_invalid_argument_exits_2_and_writes_nothing(
    argv: list[str],
    flag: str,
    tmp_path: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        train.main(["--artifacts-dir", str(tmp_path / "art"), *argv])
    assert exc_info.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in last_line
    assert list(tmp_path.iterdir()) == []
    assert _runs(MlflowClient(tracking_uri)) == []


def test_train_refuses_an_artifacts_dir_that_would_hold_the_tracking_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The store is created by the run: an empty folder named for both would be swapped
    # out, the store with it, on every run.
    folder = tmp_path / "out"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
    with pytest.raises(SystemExit) as exc_info:
        train.main(["--artifacts-dir", str(folder)])
    assert exc_info.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --artifacts-dir" in last_line and "mlflow.db" in last_line
    assert list(tmp_path.iterdir()) == []


def test_train_failure_after_start_keeps_previous_artifacts_and_fails_run(
    tmp_path: Path, tracking_uri: str
) -> None:
    target = train_into(tmp_path / "art", "--experiment-name", "good")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    client = MlflowClient(tracking_uri)
    # An artifact location under a regular file: the store accepts the run, then
    # rejects every artifact write.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    client.create_experiment("broken", artifact_location=(blocker / "artifacts").as_uri())

    assert (
        train.main(["--artifacts-dir", str(target), "--experiment-name", "broken", "--seed", "7"])
        == 1
    )
    after = {p.name: p.read_bytes() for p in target.iterdir()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "blocker", "mlruns", "runs.db"]
    broken = client.get_experiment_by_name("broken")
    runs = client.search_runs([broken.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert [r.info.run_name for r in runs] == ["logreg-C1.0-seed7"]


def test_mlflow_run_holds_params_metrics_artifacts_tags_and_model(
    trained: Path, client: MlflowClient, tmp_path: Path
) -> None:
    info = json.loads((trained / "model_info.json").read_text())
    run = client.get_run(info["run_id"])
    params = json.loads((trained / "params.json").read_text())
    assert run.data.params == {k: ("none" if v is None else str(v)) for k, v in params.items()}
    assert run.data.metrics == json.loads((trained / "metrics.json").read_text())
    X, y = data.load_dataset()
    assert run.data.tags["dataset"] == "iris"
    assert run.data.tags["dataset_sha256"] == data.dataset_sha256(X, y)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert run.data.tags["git_commit"] == head.stdout.strip()
    else:
        assert "git_commit" not in run.data.tags
    logged = {f.path for f in client.list_artifacts(info["run_id"])}
    assert set(artifacts.JSON_FILES) | {"confusion_matrix.png"} <= logged
    assert "contract.json" in logged
    copy = mlflow.artifacts.download_artifacts(
        run_id=info["run_id"], artifact_path="contract.json", dst_path=str(tmp_path)
    )
    assert Path(copy).read_bytes() == (trained / "contract.json").read_bytes()

    model = mlflow.models.get_model_info(info["model_uri"])
    assert [c["name"] for c in model.signature.inputs.to_dict()] == list(data.FEATURE_NAMES)
    loaded = mlflow.sklearn.load_model(info["model_uri"])
    local = joblib.load(trained / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), local.predict_proba(X))
    assert list(loaded.classes_) == ["setosa", "versicolor", "virginica"]


def test_mlflow_run_loads_random_forest_with_skops(trained_rf: Path) -> None:
    info = json.loads((trained_rf / "model_info.json").read_text())
    X, _ = data.load_dataset()
    loaded = mlflow.sklearn.load_model(f"runs:/{info['run_id']}/model")
    np.testing.assert_array_equal(
        loaded.predict_proba(X), joblib.load(trained_rf / "model.joblib").predict_proba(X)
    )


def test_register_model_moves_alias_to_new_version(tmp_path: Path, tracking_uri: str) -> None:
    first = train_into(tmp_path / "a", "--register-model", "iris-classifier", "--alias", "champion")
    info1 = json.loads((first / "model_info.json").read_text())
    assert info1["registered_model"] == {
        "name": "iris-classifier",
        "version": 1,
        "alias": "champion",
    }
    X, _ = data.load_dataset()
    by_alias = mlflow.sklearn.load_model("models:/iris-classifier@champion")
    np.testing.assert_array_equal(
        by_alias.predict_proba(X), joblib.load(first / "model.joblib").predict_proba(X)
    )

    second = train_into(
        tmp_path / "b", "--seed", "3", "--register-model", "iris-classifier", "--alias", "champion"
    )
    info2 = json.loads((second / "model_info.json").read_text())
    client = MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias("iris-classifier", "champion")
    assert int(version.version) == 2
    assert version.run_id == info2["run_id"] != info1["run_id"]


def test_train_refuses_a_folder_of_other_files(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit) as exc_info:
        train.main(["--artifacts-dir", str(folder)])
    assert exc_info.value.code == 2
    assert "thesis.tex" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]


def test_train_replaces_a_folder_of_previous_artifacts(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    for name in ARTIFACT_FILES | {"confusion_matrix.png"}:
        (folder / name).write_text("old")
    assert cfg.check_artifacts_dir(str(folder), [tmp_path / "project"]) is None
    train_into(folder)
    assert {p.name for p in folder.iterdir()} == ARTIFACT_FILES
    assert (folder / "contract.json").read_bytes() == (trained / "contract.json").read_bytes()


def test_connect_anchors_a_new_store_and_opens_an_existing_one_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    default = tracking.connect(uri).get_experiment("0")
    assert default.artifact_location == (tmp_path / "mlruns" / "0").as_uri()

    def second_store(_uri: str) -> None:
        raise AssertionError("an existing database needs no second store")

    monkeypatch.setattr(tracking, "_sqlite_store", second_store)
    client = tracking.connect(uri)
    assert [e.name for e in client.search_experiments()] == ["Default"]
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


def test_cli_trains_with_the_collector_back_on(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["train.py", "--artifacts-dir", str(tmp_path / "a")])
    assert train.cli() == 0  # tests/conftest.py unfreezes afterwards
    assert gc.isenabled()
    assert {p.name for p in (tmp_path / "a").iterdir()} == ARTIFACT_FILES
    assert len(_runs(MlflowClient(tracking_uri))) == 1


def test_logged_model_pins_the_running_versions(trained: Path, client: MlflowClient) -> None:
    import mlflow.utils.environment as environment

    from petalflow.training import mlflow_model

    info = json.loads((trained / "model_info.json").read_text())
    requirements = Path(mlflow.pyfunc.get_model_dependencies(info["model_uri"])).read_text()
    assert requirements.split() == mlflow_model.pip_requirements()
    # MLflow's own check of those pins is skipped only while the model is logged.
    before = environment.warn_dependency_requirement_mismatches
    with mlflow_model.skip_requirement_mismatch_check():
        assert environment.warn_dependency_requirement_mismatches is not before
    assert environment.warn_dependency_requirement_mismatches is before


def test_train_run_holds_the_evaluation_plots_reports_name_and_description(
    trained: Path, client: MlflowClient, tmp_path: Path
) -> None:
    from PIL import Image

    from petalflow.training import diagnostics

    info = json.loads((trained / "model_info.json").read_text())
    run = client.get_run(info["run_id"])
    assert run.info.run_name == "logreg-C1.0-seed42"
    note = run.data.tags["mlflow.note.content"]
    scores = json.loads((trained / "metrics.json").read_text())
    assert "iris: 150 rows, 4 features" in note
    assert "test size 0.2, seed 42: 120 training rows, 30 test rows" in note
    assert f"accuracy {scores['accuracy']:.4f}" in note
    logged = {f.path for f in client.list_artifacts(info["run_id"], "evaluation")}
    names = {*diagnostics.PLOTS, *diagnostics.REPORTS}
    assert logged == {f"evaluation/{n}" for n in names}
    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=info["run_id"], artifact_path="evaluation", dst_path=str(tmp_path)
        )
    )
    for name in diagnostics.PLOTS:
        assert (folder / name).stat().st_size > 5000, name
        with Image.open(folder / name) as image:
            image.verify()
    report = json.loads((folder / "classification_report.json").read_text())
    assert report["accuracy"] == pytest.approx(scores["accuracy"])
    assert report["macro avg"]["f1-score"] == pytest.approx(scores["f1_macro"])


def test_train_run_name_of_a_forest_names_its_trees_and_depth(
    trained_rf: Path, client: MlflowClient
) -> None:
    info = json.loads((trained_rf / "model_info.json").read_text())
    assert client.get_run(info["run_id"]).info.run_name == "rf-n_estimators30-max_depthnone-seed42"


def test_train_logs_the_data_set_with_the_contract_schema_and_the_table_digest(
    user_table: Path, tmp_path: Path, tracking_uri: str
) -> None:
    # The oracle: the contract written by hand in tests/training/conftest.py, and the
    # dataset_sha256 tag's own definition.
    target = train_into(tmp_path / "a", "--dataset", str(user_table))
    run = MlflowClient(tracking_uri).get_run(
        json.loads((target / "model_info.json").read_text())["run_id"]
    )
    [logged] = run.inputs.dataset_inputs
    assert [t.value for t in logged.tags if t.key == "mlflow.data.context"] == ["training"]
    dataset = logged.dataset
    assert dataset.name == "levels"
    assert dataset.digest == run.data.tags["dataset_sha256"][:8]
    assert json.loads(dataset.profile) == {"num_rows": 240, "num_elements": 240 * 6}
    assert dataset.source_type == "code"
    schema = json.loads(dataset.schema)["mlflow_colspec"]
    assert schema == [
        {"type": "double", "name": "tenure months", "required": True},
        {"type": "double", "name": "größe", "required": True},
        {"type": "string", "name": "plan", "required": True},
        {"type": "double", "name": "active", "required": True},
        {"type": "double", "name": "score", "required": False},
        {"type": "string", "name": "level", "required": True},
    ]


def test_train_stopped_while_publishing_ends_its_run_finished_then_exits(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SIGTERM between the folder's swap and the run's end: the folder, the alias and
    # the run agree (the run FINISHED), and only then does the process stop (128 + 15).
    moved = tracking.move_alias

    def stop_then_move(client: MlflowClient, registered: dict[str, object]) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        moved(client, registered)

    monkeypatch.setattr(tracking, "move_alias", stop_then_move)
    previous = signal.getsignal(signal.SIGTERM)
    target = tmp_path / "art"
    argv = ["--artifacts-dir", str(target), "--register-model", "m", "--alias", "champion"]
    try:
        with pytest.raises(SystemExit) as stopped:
            train.main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == 128 + signal.SIGTERM
    info = json.loads((target / "model_info.json").read_text())
    client = MlflowClient(tracking_uri)
    assert client.get_run(info["run_id"]).info.status == "FINISHED"
    assert client.get_model_version_by_alias("m", "champion").run_id == info["run_id"]


def test_train_interrupted_while_logging_ends_its_run_finished_then_stops(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C inside a store call would leave that call's session holding the database's
    # lock: the run could not be marked FAILED and stayed RUNNING. From the first write
    # of the publishing on, the stop waits for the run to end FINISHED.
    from petalflow.training import run as training_run

    logged = training_run._log_run

    def interrupted_while_logging(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        logged(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(training_run, "_log_run", interrupted_while_logging)
    target = tmp_path / "art"
    with pytest.raises(KeyboardInterrupt):
        train.main(["--artifacts-dir", str(target)])
    info = json.loads((target / "model_info.json").read_text())
    run = MlflowClient(tracking_uri).get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    assert (
        run.data.metrics["accuracy"]
        == json.loads((target / "metrics.json").read_text())["accuracy"]
    )


def test_train_interrupted_while_logging_to_a_server_stops_at_once(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tracking server's calls may each take seconds: its logging is not held (only the
    # folder's swap on): the run ends FAILED and the previous artifacts stay.
    from petalflow.training import run as training_run

    target = tmp_path / "art"
    train.main(["--artifacts-dir", str(target)])
    before = (target / "model_info.json").read_bytes()
    logged = training_run._log_run

    def interrupted_while_logging(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        logged(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(training_run, "_log_run", interrupted_while_logging)
    monkeypatch.setattr(tracking, "is_database", lambda uri: False)
    with pytest.raises(KeyboardInterrupt):
        train.main(["--artifacts-dir", str(target)])
    assert (target / "model_info.json").read_bytes() == before
    [stopped] = MlflowClient(tracking_uri).search_runs(
        [mlflow.get_experiment_by_name("iris").experiment_id], "attributes.status = 'FAILED'"
    )
    assert stopped.info.run_name == "logreg-C1.0-seed42"


@pytest.mark.parametrize("chosen", [False, True])
def test_a_run_mlflow_run_started_elsewhere_records_its_experiment_and_warns_of_default(
    chosen: bool,
    tmp_path: Path,
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `mlflow run` without --experiment-name starts its run in Default: the run stays
    # there, its experiment_name param and params.json say so (not "iris"), and a warning
    # says how to keep it beside the data set's runs. An experiment the user chose
    # (`mlflow run --experiment-name prod-iris`) is recorded without a warning.
    client = tracking.connect(tracking_uri)  # its artifacts beside the store, not in ./
    if chosen:
        location = str(tmp_path / "runs")
        where, experiment = "prod-iris", client.create_experiment("prod-iris", location)
    else:
        where, experiment = "Default", tracking.DEFAULT_EXPERIMENT_ID
    started = client.create_run(experiment)
    monkeypatch.setenv("MLFLOW_RUN_ID", started.info.run_id)
    assert train.main(["--artifacts-dir", str(tmp_path / "art")]) == 0
    info = json.loads((tmp_path / "art" / "model_info.json").read_text())
    assert info["run_id"] == started.info.run_id
    assert client.get_run(started.info.run_id).data.params["experiment_name"] == where
    saved = json.loads((tmp_path / "art" / "params.json").read_text())
    assert saved["experiment_name"] == where
    warnings = [line for line in capsys.readouterr().out.splitlines() if " WARNING " in line]
    assert [line.split(": ", 1)[1] for line in warnings] == (
        []
        if chosen
        else [
            "this run is in the experiment 'Default' (mlflow run's), not 'iris': run `mlflow "
            "run` with --experiment-name iris to keep it beside the data set's other runs"
        ]
    )
