"""`python -m petalflow tune` in-process: the study, its runs, its artifacts, its errors.

Each tune logs into a fresh sqlite store in tmp_path (the session's store otherwise).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from petalflow.training import diagnostics
from petalflow.training.tune_command import tune_main
from tests.conftest import ROOT, python_env
from tests.training.conftest import child_runs, tune_in, tune_process

STABLE_FILES = (
    "model.joblib",
    "metrics.json",
    "params.json",
    "confusion_matrix.json",
    "reference_stats.json",
    "contract.json",
)


@pytest.fixture(scope="module")
def twice(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[tuple[Path, MlflowClient, dict[str, Any]]]]:
    """`tune --trials 8 --seed 3`, twice, each in its own process, folder and store."""
    found = []
    for replica in (1, 2):
        folder = tmp_path_factory.mktemp(f"tune-{replica}")
        client, info = tune_process(folder, "--trials", "8", "--seed", "3")
        found.append((folder, client, info))
    yield found


def test_tune_logs_one_parent_and_one_child_run_per_trial(twice: list[Any]) -> None:
    _, client, info = twice[0]
    parent = client.get_run(info["run_id"])
    children = child_runs(client, info["run_id"])
    assert [c.data.tags["trial"] for c in children] == [str(n) for n in range(8)]
    assert [c.info.run_name for c in children] == [f"trial-{n:03d}" for n in range(8)]
    experiment = parent.info.experiment_id
    assert len(client.search_runs([experiment])) == 9  # the parent and its 8 trials
    for child in children:
        assert child.info.status == "FINISHED"
        assert set(child.data.params) == {"C", "class_weight"}
        assert set(child.data.metrics) == {"cv_f1_macro_mean", "cv_f1_macro_std", "cv_folds"}
        assert child.data.metrics["cv_folds"] == 5
    means = [c.data.metrics["cv_f1_macro_mean"] for c in children]
    assert parent.data.metrics["best_cv_f1_macro"] == max(means)
    best = children[int(np.argmax(means))]
    assert parent.data.params["best_C"] == best.data.params["C"]
    assert parent.data.params["best_class_weight"] == best.data.params["class_weight"]
    assert parent.data.params["space_C"] == "float log [0.001, 1000]"
    assert parent.info.run_name == "tune-logreg-f1_macro-8trials-seed3"
    assert parent.data.tags["dataset"] == "iris"


def test_tune_final_model_is_the_best_refit_and_evaluated_on_the_test_split(
    twice: list[Any],
) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from petalflow.training.data import prepare

    folder, client, info = twice[0]
    parent = client.get_run(info["run_id"])
    params = json.loads((folder / "artifacts" / "params.json").read_text())
    assert params["trials"] == 8 and params["seed"] == 3 and params["best_trial"] >= 0
    model = joblib.load(folder / "artifacts" / "model.joblib")
    classifier = model.named_steps["classifier"]
    assert pytest.approx(float(parent.data.params["best_C"])) == classifier.C
    split = prepare("iris", 0.2, 3).split
    predicted = model.predict(split.X_test)
    metrics = json.loads((folder / "artifacts" / "metrics.json").read_text())
    assert metrics["accuracy"] == accuracy_score(split.y_test, predicted)
    assert metrics["f1_macro"] == f1_score(split.y_test, predicted, average="macro")
    assert parent.data.metrics == metrics
    mlflow.set_tracking_uri(info["tracking_uri"])
    loaded = mlflow.sklearn.load_model(info["model_uri"])
    np.testing.assert_array_equal(
        loaded.predict_proba(split.X_test), model.predict_proba(split.X_test)
    )
    logged = {f.path for f in client.list_artifacts(info["run_id"], "evaluation")}
    assert logged == {f"evaluation/{n}" for n in (*diagnostics.PLOTS, *diagnostics.REPORTS)}
    assert "5-fold CV" in parent.data.tags["mlflow.note.content"]
    assert f"accuracy {metrics['accuracy']:.4f}" in parent.data.tags["mlflow.note.content"]
    experiment, run_id = parent.info.experiment_id, info["run_id"]
    evaluation = folder / "mlruns" / experiment / run_id / "artifacts" / "evaluation"
    for name in diagnostics.PLOTS:
        with Image.open(evaluation / name) as image:
            image.verify()
        assert (evaluation / name).stat().st_size > 5000, name


# The best trial's pipeline, fitted and dumped by joblib as train.py does, in a fresh
# process: scikit-learn's classes, not petalflow's pipeline code.
REFIT = """
import sys, joblib
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from petalflow.training.data import prepare
from petalflow.training.search_space import LOGREG_MAX_ITER
C, weight, target = float(sys.argv[1]), sys.argv[2], sys.argv[3]
classifier = LogisticRegression(C=C, class_weight=None if weight == "none" else weight,
                                max_iter=LOGREG_MAX_ITER, random_state=3)
split = prepare("iris", 0.2, 3).split
pipeline = Pipeline([("scaler", StandardScaler()), ("classifier", classifier)])
joblib.dump(pipeline.fit(split.X_train, split.y_train), target)
"""


def test_tune_model_file_is_the_bytes_of_the_best_pipeline_fitted_alone(
    twice: list[Any], tmp_path: Path
) -> None:
    # The search process fits and dumps it: a copy sent through a pipe would pickle to
    # other bytes than train.py's for the same model.
    folder, _, _ = twice[0]
    params = json.loads((folder / "artifacts" / "params.json").read_text())
    target = tmp_path / "alone.joblib"
    subprocess.run(
        [sys.executable, "-c", REFIT, repr(params["best_C"]), params["best_class_weight"], target],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    assert (folder / "artifacts" / "model.joblib").read_bytes() == target.read_bytes()


def test_tune_same_seed_gives_the_same_trials_and_identical_artifacts(twice: list[Any]) -> None:
    (first, client1, info1), (second, client2, info2) = twice
    trials = [
        [c.data.params for c in child_runs(client, info["run_id"])]
        for client, info in ((client1, info1), (client2, info2))
    ]
    assert trials[0] == trials[1]
    assert len({p["C"] for p in trials[0]}) == 8
    for name in STABLE_FILES:
        a = (first / "artifacts" / name).read_bytes()
        assert a == (second / "artifacts" / name).read_bytes(), name


def test_tune_parallel_jobs_run_each_trial_once(tmp_path: Path) -> None:
    client, info = tune_in(tmp_path, "--trials", "6", "--jobs", "2", "--cv-folds", "3")
    children = child_runs(client, info["run_id"])
    assert sorted(int(c.data.tags["trial"]) for c in children) == list(range(6))


def test_tune_processes_sharing_a_storage_run_the_study_total(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    shared = ("--storage", storage, "--study", "s", "--cv-folds", "2")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    client, first = tune_in(tmp_path / "a", "--trials", "3", *shared)
    client2, second = tune_in(tmp_path / "b", "--trials", "5", *shared)
    assert [c.data.tags["trial"] for c in child_runs(client, first["run_id"])] == ["0", "1", "2"]
    assert [c.data.tags["trial"] for c in child_runs(client2, second["run_id"])] == ["3", "4"]
    import optuna

    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 5


def test_tune_refuses_the_tracking_store_as_optuna_storage_and_writes_nothing_there(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    database = tracking_uri.removeprefix("sqlite:///")
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    before = sqlite3.connect(database).execute(tables).fetchall()
    spelled = f"sqlite:///{Path(database).parent}/./{Path(database).name}"  # the same file
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        with pytest.raises(SystemExit) as exc_info:
            tune_main(["--artifacts-dir", "artifacts", "--storage", spelled, "--study", "s"])
    assert exc_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --storage: that is the MLflow tracking store" in last
    assert sqlite3.connect(database).execute(tables).fetchall() == before


def test_tune_on_a_study_that_holds_its_trials_says_it_adds_none(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    shared = ["--storage", storage, "--study", "s", "--cv-folds", "2", "--trials", "2"]
    said = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "petalflow", "tune", "--artifacts-dir", "artifacts", *shared],
            cwd=tmp_path,
            env=python_env(
                MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'runs.db'}", PYTHONPATH=str(ROOT)
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        said.append([line for line in done.stdout.splitlines() if " WARNING " in line])
    assert said[0] == []
    assert [line.split(": ", 1)[1] for line in said[1]] == [
        "study 's' already holds 2 trials (--trials 2): this tune adds none, and refits and "
        "publishes the study's best; raise --trials to search more"
    ]


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        (["--dataset", "wine"], "dataset 'iris', not 'wine'"),
        (["--metric", "log_loss"], "metric 'f1_macro', not 'log_loss'"),
        (["--model", "rf"], "model 'logreg', not 'rf'"),
        (["--cv-folds", "3"], "cv_folds '2', not '3'"),
    ],
)
def test_tune_refuses_to_join_a_study_of_another_search(
    change: list[str],
    differs: str,
    tmp_path: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Its best would mix scores of two searches (an F1 read as a loss, Iris's
    # hyperparameters refit on wine, or a KeyError for rf's).
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    shared = ["--storage", storage, "--study", "s", "--cv-folds", "2", "--trials", "1"]
    (tmp_path / "a").mkdir()
    client, first = tune_in(tmp_path / "a", *shared)
    work = tmp_path / "b"
    work.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        with pytest.raises(SystemExit) as exc_info:
            tune_main(["--artifacts-dir", "artifacts", *shared, *change])
    assert exc_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --study: study 's' holds trials of another search" in last
    assert differs in last
    assert list(work.iterdir()) == []
    ids = [e.experiment_id for e in client.search_experiments()]
    assert [
        r.info.run_id for r in client.search_runs(ids) if "mlflow.parentRunId" not in r.data.tags
    ] == [first["run_id"]]


def test_tune_works_on_a_contract_table_with_a_forest(tmp_path: Path, user_table: Path) -> None:
    client, info = tune_in(
        tmp_path,
        "--dataset",
        str(user_table),
        "--model",
        "rf",
        "--trials",
        "2",
        "--cv-folds",
        "1",
        "--metric",
        "log_loss",
    )
    parent = client.get_run(info["run_id"])
    children = child_runs(client, info["run_id"])
    assert len(children) == 2
    losses = [c.data.metrics["cv_log_loss_mean"] for c in children]
    assert parent.data.metrics["best_cv_log_loss"] == min(losses)  # lower is better
    assert children[0].data.metrics["cv_folds"] == 1
    assert "cv_log_loss_std" not in children[0].data.metrics  # no spread over one split
    assert "best_cv_log_loss_std" not in parent.data.metrics
    assert set(children[0].data.params) == {
        "n_estimators",
        "max_depth",
        "min_samples_leaf",
        "max_features",
    }


USAGE_ERRORS = [
    (["--trials", "0"], "--trials"),
    (["--cv-folds", "0"], "--cv-folds"),
    (["--cv-folds", "60"], "--cv-folds"),
    (["--model", "svm"], "--model"),
    (["--metric", "auc"], "--metric"),
    (["--alias", "champion"], "--alias"),
    (["--jobs", "0"], "--jobs"),
    (["--storage", "sqlite:///x.db"], "--study"),
    (["--study", "s"], "--study"),
    (["--storage", "nosuchdb://h/x", "--study", "s"], "--storage"),
    (["--test-size", "0.99"], "--test-size"),
    (["--register-model", "a:b"], "--register-model"),
    (
        ["--artifacts-dir", "out", "--storage", "sqlite:///out/o.db", "--study", "s"],
        "--artifacts-dir",
    ),
]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--cv-folds", "200"], "--cv-folds"), (["--dataset", "nosuch"], "--dataset")],
)
def test_tune_usage_error_found_in_the_data_is_said_once(
    argv: list[str], flag: str, tmp_path: Path
) -> None:
    # as a user runs it: through the entry point, which also says a failure under a stop
    done = subprocess.run(
        [sys.executable, "-m", "petalflow", "tune", "--artifacts-dir", str(tmp_path / "a"), *argv],
        cwd=ROOT,
        env=python_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'runs.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("usage: python -m petalflow tune")
    assert lines[-1].startswith(f"python -m petalflow tune: error: argument {flag}: ")
    assert [line for line in lines if not line.startswith(" ")][1:] == [lines[-1]]


@pytest.mark.parametrize(("argv", "flag"), USAGE_ERRORS)
def test_tune_usage_error_exits_2_naming_the_flag_and_creates_no_run(
    argv: list[str],
    flag: str,
    tmp_path: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        with pytest.raises(SystemExit) as exc_info:
            tune_main(["--artifacts-dir", "artifacts", *argv])
    assert exc_info.value.code == 2
    assert flag in capsys.readouterr().err.strip().splitlines()[-1]
    assert list(work.iterdir()) == []
    client = MlflowClient(tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    assert (client.search_runs(ids) if ids else []) == []
