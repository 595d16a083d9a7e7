"""`python -m petalflow promote` and `rollback` on a real registry in a tmp sqlite store.

The oracle for scores: scikit-learn's f1_score on the test split rebuilt here, with the
models loaded back from the registry.
"""

from __future__ import annotations

import json
import logging
import shutil
import urllib.parse
from datetime import datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import f1_score

from petalflow.__main__ import main as petalflow_main
from petalflow.training.data import load_dataset, prepare
from tests.conftest import train_into

NAME = "iris-clf"


def _register(folder: Path, alias: str, *args: str) -> str:
    info = json.loads(
        (
            train_into(folder, "--register-model", NAME, "--alias", alias, *args)
            / "model_info.json"
        ).read_text()
    )
    return str(info["registered_model"]["version"])


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def _tags(client: MlflowClient, version: str) -> dict[str, str]:
    return dict(client.get_model_version(NAME, version).tags)


@pytest.fixture()
def registry(tmp_path: Path, tracking_uri: str) -> MlflowClient:
    """v1: a weak champion (C=0.001); v2: a good challenger (C=1), same split."""
    client = MlflowClient(tracking_uri)
    assert _register(tmp_path / "v1", "champion", "--C", "0.001") == "1"
    assert _register(tmp_path / "v2", "challenger") == "2"
    return client


def _f1(version: str) -> float:
    split = prepare("iris", 0.2, 42).split
    model = mlflow.sklearn.load_model(f"models:/{NAME}/{version}")
    return float(f1_score(split.y_test, model.predict(split.X_test), average="macro"))


def test_promote_moves_champion_to_a_better_challenger_and_tags_both(
    registry: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert petalflow_main(["promote", "--model-name", NAME]) == 0
    assert _aliases(registry) == {"champion": "2", "challenger": "2", "previous-champion": "1"}
    challenger, champion = _tags(registry, "2"), _tags(registry, "1")
    assert challenger["promotion.decision"] == "promoted"
    assert champion["promotion.decision"] == "replaced"
    assert challenger["promotion.winner"] == champion["promotion.winner"] == "2"
    assert challenger["promotion.compared_with"] == "1"
    scores = json.loads(challenger["promotion.scores"])
    assert scores["test_split"]["challenger"] == pytest.approx(_f1("2"), abs=1e-12)
    assert scores["test_split"]["champion"] == pytest.approx(_f1("1"), abs=1e-12)
    assert "test split of iris: 30 rows" in challenger["promotion.data"]
    assert capsys.readouterr().out.startswith(f"promoted {NAME} version 2")


def test_promote_keeps_the_champion_when_the_challenger_is_worse(
    registry: MlflowClient, tmp_path: Path
) -> None:
    assert petalflow_main(["promote", "--model-name", NAME]) == 0
    assert _register(tmp_path / "v3", "challenger", "--C", "0.001") == "3"
    assert petalflow_main(["promote", "--model-name", NAME]) == 1
    assert _aliases(registry)["champion"] == "2"
    assert _aliases(registry)["previous-champion"] == "1"
    assert _tags(registry, "3")["promotion.decision"] == "rejected"
    assert _tags(registry, "2")["promotion.decision"] == "kept"
    assert _tags(registry, "3")["promotion.winner"] == "2"


def test_promote_needs_the_margin_on_every_evaluation(registry: MlflowClient) -> None:
    margin = _f1("2") - _f1("1")
    args = ["promote", "--model-name", NAME, "--min-delta", str(margin + 0.01)]
    assert petalflow_main(args) == 1
    assert _aliases(registry)["champion"] == "1"


def test_promote_refuses_when_the_test_splits_differ(
    tmp_path: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = MlflowClient(tracking_uri)
    _register(tmp_path / "v1", "champion")
    _register(tmp_path / "v2", "challenger", "--seed", "7")
    assert petalflow_main(["promote", "--model-name", NAME]) == 2
    err = capsys.readouterr().err
    assert "test splits differ" in err and "seed '7' vs '42'" in err and "--seed 42" in err
    assert _aliases(client) == {"champion": "1", "challenger": "2"}
    assert "promotion.decision" not in _tags(client, "2")


def test_promote_makes_a_first_challenger_champion(tmp_path: Path, tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    _register(tmp_path / "v1", "challenger")
    assert petalflow_main(["promote", "--model-name", NAME]) == 0
    assert _aliases(client) == {"champion": "1", "challenger": "1"}
    assert _tags(client, "1")["promotion.decision"] == "promoted"
    assert _tags(client, "1")["promotion.compared_with"] == "none"


def test_promote_and_rollback_under_mlflow_run_name_its_run_and_describe_it(
    registry: MlflowClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `mlflow run -e promote` starts a run for the command: in `mlflow ui` it had a random
    # name and said nothing of the decision
    experiment = registry.create_experiment("ops", artifact_location=str(tmp_path / "ops"))
    for command, name in (("promote", f"promote-{NAME}"), ("rollback", f"rollback-{NAME}")):
        run_id = registry.create_run(experiment).info.run_id
        monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
        assert petalflow_main([command, "--model-name", NAME]) == 0
        said = capsys.readouterr().out.strip()
        tags = registry.get_run(run_id).data.tags
        assert (tags["mlflow.runName"], tags["mlflow.note.content"]) == (name, said)
    assert said == f"rolled back {NAME}: champion -> version 1 (was 2)"


def test_promote_under_a_run_id_mlflow_cannot_find_still_reports_its_decision(
    registry: MlflowClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # naming the run comes after the aliases moved: it must not turn the outcome into a
    # failure ("did not complete ... run it again", exit 2)
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")
    assert petalflow_main(["promote", "--model-name", NAME]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"promoted {NAME} version 2")
    assert "did not complete" not in captured.err
    assert _aliases(registry) == {"champion": "2", "challenger": "2", "previous-champion": "1"}


def test_promote_and_rollback_of_another_champion_alias_leave_champion_alone(
    registry: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # v1 champion (weak), v2 challenger (good), v3 a staging release of v1's weak model
    registry.set_registered_model_alias(NAME, "staging", "1")
    registry.set_registered_model_alias(NAME, "previous-champion", "1")  # an earlier promote
    assert petalflow_main(["promote", "--model-name", NAME, "--champion", "staging"]) == 0
    summary = capsys.readouterr().out
    assert "vs staging" in summary and "vs champion" not in summary
    expected = {"champion": "1", "challenger": "2", "staging": "2", "previous-champion": "1"}
    assert _aliases(registry) == {**expected, "previous-staging": "1"}
    assert petalflow_main(["rollback", "--model-name", NAME, "--champion", "staging"]) == 0
    assert "staging -> version 1 (was 2)" in capsys.readouterr().out
    # champion and its own previous version are untouched; the rolled-back challenger goes
    assert _aliases(registry) == {"champion": "1", "staging": "1", "previous-champion": "1"}


def test_rollback_restores_the_previous_champion_once(
    registry: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert petalflow_main(["promote", "--model-name", NAME]) == 0
    assert petalflow_main(["rollback", "--model-name", NAME]) == 0
    # The rolled-back version is no longer the challenger: a scheduled promote would
    # otherwise release it again.
    assert _aliases(registry) == {"champion": "1"}
    assert _tags(registry, "1")["rollback.replaced"] == "2"
    assert _tags(registry, "2")["rollback.restored"] == "1"
    assert _tags(registry, "2")["rollback.unset_alias"] == "challenger"
    assert "champion -> version 1 (was 2)" in capsys.readouterr().out
    assert petalflow_main(["rollback", "--model-name", NAME]) == 2
    assert "no 'previous-champion' alias" in capsys.readouterr().err
    assert petalflow_main(["promote", "--model-name", NAME]) == 2  # no challenger left
    assert _aliases(registry) == {"champion": "1"}


def test_promote_scores_labelled_predictions_and_needs_both_wins(
    registry: MlflowClient, tmp_path: Path
) -> None:
    from petalflow.monitoring.prediction_log import PredictionLog

    X, _ = load_dataset()
    # The truth, as feedback says it: whatever the weak champion predicts. The champion is
    # perfect there, so the challenger, better on the test split, must not win.
    champion = mlflow.sklearn.load_model(f"models:/{NAME}/1")
    truth = champion.predict(X)
    log = PredictionLog(tmp_path / "predictions.db").start()
    try:
        for i, row in enumerate(X.to_numpy()):
            log.record(
                f"r{i}", "run", [row.tolist()], [truth[i]], list(champion.classes_), [[1, 0, 0]]
            )
        log.flush()
        for i in range(len(X)):
            log.add_feedback(f"r{i}", str(truth[i]))
    finally:
        log.close()
    args = ["promote", "--model-name", NAME, "--prediction-log", str(tmp_path / "predictions.db")]
    assert petalflow_main(args) == 1
    scores = json.loads(_tags(registry, "2")["promotion.scores"])
    assert scores["feedback"]["champion"] == 1.0
    assert scores["feedback"]["challenger"] < 1.0
    assert scores["test_split"]["challenger_better"] is True
    assert "150 labelled predictions" in _tags(registry, "2")["promotion.data"]
    assert _aliases(registry)["champion"] == "1"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["promote"], "--model-name"),
        (["promote", "--model-name", NAME, "--metric", "auc"], "--metric"),
        (["promote", "--model-name", NAME, "--min-delta", "-1"], "--min-delta"),
        (["promote", "--model-name", NAME, "--min-delta", "inf"], "--min-delta"),
        (["promote", "--model-name", NAME, "--challenger", ""], "--challenger"),
        (["rollback", "--model-name", NAME, "--champion", "none"], "--champion"),
        (["rollback", "--model-name", NAME, "--challenger", "champion"], "--challenger"),
        (["promote", "--model-name", NAME, "--champion", "challenger"], "--challenger"),
        (["promote", "--model-name", NAME, "--prediction-log", "nope.db"], "--prediction-log"),
        (["rollback"], "--model-name"),
    ],
)
def test_promotion_usage_errors_exit_2_naming_the_flag(
    argv: list[str], flag: str, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        petalflow_main(argv)
    assert exc_info.value.code == 2
    assert flag in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["promote", "--model-name", NAME, "--challenger", "none"],
        ["promote", "--model-name", NAME, "--prediction-log", "nope.db"],
    ],
)
def test_promotion_usage_errors_touch_no_store(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/fresh.db")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc_info:
        petalflow_main(argv)
    assert exc_info.value.code == 2
    assert list(tmp_path.iterdir()) == []  # no database, no mlruns/


def test_promote_exits_2_when_mlflow_fails_not_1(
    registry: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # The champion's model files are gone: loading it fails inside MLflow. Exit 1 would
    # read as "champion kept" to a CI gate.
    version = registry.get_model_version(NAME, "1")
    model_id = version.model_id or version.source.removeprefix("models:/")
    location = registry.get_logged_model(model_id).artifact_location
    shutil.rmtree(urllib.parse.urlparse(location).path)
    assert petalflow_main(["promote", "--model-name", NAME]) == 2
    error = capsys.readouterr().err
    assert f"promote: error: cannot load {NAME} version 1 (champion): " in error
    assert "register a new version and point 'champion' at it" in error
    assert "Traceback" not in error
    assert _aliases(registry) == {"champion": "1", "challenger": "2"}


@pytest.mark.parametrize("command", ["promote", "rollback"])
def test_promotion_on_a_tracking_database_that_is_not_there_exits_2_creating_nothing(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri = f"sqlite:///{tmp_path / 'typo' / 'mlfow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert petalflow_main([command, "--model-name", NAME]) == 2
    assert f"error: there is no MLflow store at {uri}" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    ("name", "shown"), [(NAME, NAME), ("my iris", "'my iris'"), ("o'brien", "'o'\"'\"'brien'")]
)
def test_promote_without_a_challenger_exits_2_saying_how_to_register_one(
    name: str, shown: str, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    MlflowClient(tracking_uri).search_experiments()  # an empty store, not a missing one
    assert petalflow_main(["promote", "--model-name", name]) == 2
    assert f"--register-model {shown} --alias challenger" in capsys.readouterr().err  # pastable


def test_labelled_rows_are_newest_first_with_gaps_as_nan(tmp_path: Path) -> None:
    from petalflow.monitoring.prediction_log import PredictionLog, PredictionLogReader

    log = PredictionLog(tmp_path / "p.db").start()
    try:
        log.record("a", "v", [[1.0, None], [2.0, 3.0]], ["x", "y"], ["x", "y"], [[1, 0], [0, 1]])
        log.flush()
        log.add_feedback("a:1", "y")
        log.add_feedback("a:0", "x")
    finally:
        log.close()
    with PredictionLogReader(tmp_path / "p.db") as reader:
        rows, labels = reader.labelled_rows(10)
    assert labels == ["x", "y"]
    np.testing.assert_array_equal(rows, [[1.0, np.nan], [2.0, 3.0]])


def _shadowed_log(path: Path, champion_run: str, shadow_run: str, shadow_labels: list[str]) -> None:
    """The champion served every Iris row (its own answers), a shadow of ``shadow_run``
    answered ``shadow_labels``, and feedback gave each row its true species."""
    from petalflow.monitoring.prediction_log import PredictionLog

    X, y = load_dataset()
    champion = mlflow.sklearn.load_model(f"models:/{NAME}/1")
    answers = champion.predict(X)
    classes = list(champion.classes_)
    with PredictionLog(path) as log:
        for i, row in enumerate(X.to_numpy()):
            log.record(f"r{i}", champion_run, [row.tolist()], [answers[i]], classes, [[1, 0, 0]])
            log.record_shadow(f"r{i}", shadow_run, [shadow_labels[i]], classes, [[1, 0, 0]])
        assert log.flush()
        for i in range(len(X)):
            log.add_feedback(f"r{i}", str(y.iloc[i]))


@pytest.mark.parametrize("shadow", ["honest", "wrong", "other-version"])
def test_promote_weighs_what_the_challenger_answered_as_a_shadow(
    registry: MlflowClient, tmp_path: Path, shadow: str
) -> None:
    X, y = load_dataset()
    truth = [str(t) for t in y]
    champion_run = str(registry.get_model_version(NAME, "1").run_id)
    challenger_run = str(registry.get_model_version(NAME, "2").run_id)
    challenger = mlflow.sklearn.load_model(f"models:/{NAME}/2")
    honest = [str(p) for p in challenger.predict(X)]
    # "wrong": the challenger's live answers were all wrong, whatever it scores offline.
    labels = sorted(set(truth))
    answers = honest if shadow != "wrong" else [labels[labels.index(t) - 1] for t in truth]
    run = challenger_run if shadow != "other-version" else "another-run"
    _shadowed_log(tmp_path / "p.db", champion_run, run, answers)

    status = petalflow_main(
        ["promote", "--model-name", NAME, "--prediction-log", str(tmp_path / "p.db")]
    )

    scores = json.loads(_tags(registry, "2")["promotion.scores"])
    assert scores["test_split"]["challenger_better"] is True
    if shadow == "other-version":  # no evidence of this pair: the other evaluations decide
        assert "shadow" not in scores and status == 0
        return
    champion_answers = [str(p) for p in mlflow.sklearn.load_model(f"models:/{NAME}/1").predict(X)]
    assert scores["shadow"]["challenger"] == pytest.approx(
        f1_score(truth, answers, average="macro")
    )
    assert scores["shadow"]["champion"] == pytest.approx(
        f1_score(truth, champion_answers, average="macro")
    )
    assert status == (0 if shadow == "honest" else 1)
    assert "150 labelled predictions" in _tags(registry, "2")["promotion.data"]
    assert "answered live" in _tags(registry, "2")["promotion.data"]


def test_promote_has_no_shadow_evidence_for_a_metric_of_probabilities(
    registry: MlflowClient, tmp_path: Path
) -> None:
    X, _ = load_dataset()
    runs = [str(registry.get_model_version(NAME, v).run_id) for v in ("1", "2")]
    _shadowed_log(tmp_path / "p.db", *runs, ["setosa"] * len(X))
    argv = ["promote", "--model-name", NAME, "--metric", "log_loss"]
    petalflow_main([*argv, "--prediction-log", str(tmp_path / "p.db")])
    assert "shadow" not in json.loads(_tags(registry, "2")["promotion.scores"])


@pytest.fixture()
def versions(tracking_uri: str) -> MlflowClient:
    """Versions 1 to 3 of NAME registered without training: aliases and tags only."""
    client = MlflowClient(tracking_uri)
    client.create_registered_model(NAME)
    for i in range(3):
        client.create_model_version(NAME, source=f"models-not-read/{i}")
    return client


def _set_aliases(client: MlflowClient, **aliases: str) -> None:
    for alias, version in aliases.items():
        client.set_registered_model_alias(NAME, alias.replace("_", "-"), version)


def test_rollback_tags_both_versions_with_the_time_in_utc(versions: MlflowClient) -> None:
    from petalflow.training import promotion

    _set_aliases(versions, champion="2", previous_champion="1")  # no challenger
    assert promotion.rollback(versions, NAME) == ("1", "2")
    assert _aliases(versions) == {"champion": "1"}
    restored, demoted = _tags(versions, "1"), _tags(versions, "2")
    assert restored["rollback.replaced"] == "2" and demoted["rollback.restored"] == "1"
    when = restored["rollback.restored_at"]
    assert demoted["rollback.rolled_back_at"] == when
    moment = datetime.fromisoformat(when)  # an ISO time in UTC, to the second
    assert moment.utcoffset() == timedelta(0) and moment.microsecond == 0
    assert "rollback.unset_alias" not in demoted


def test_rollback_without_a_champion_restores_the_previous_one(versions: MlflowClient) -> None:
    from petalflow.training import promotion

    _set_aliases(versions, previous_champion="1", challenger="2")
    assert promotion.rollback(versions, NAME) == ("1", "none")
    assert _aliases(versions) == {"champion": "1", "challenger": "2"}
    assert _tags(versions, "1")["rollback.replaced"] == "none"
    assert not any(key.startswith("rollback.") for key in _tags(versions, "2"))


def test_rollback_keeps_a_challenger_of_another_version(versions: MlflowClient) -> None:
    from petalflow.training import promotion

    _set_aliases(versions, champion="2", previous_champion="1", challenger="3")
    assert promotion.rollback(versions, NAME) == ("1", "2")
    assert _aliases(versions) == {"champion": "1", "challenger": "3"}
    assert "rollback.unset_alias" not in _tags(versions, "2")


def test_rollback_without_a_previous_champion_says_nothing_moved(versions: MlflowClient) -> None:
    from petalflow.core.errors import PromotionError
    from petalflow.training import promotion

    _set_aliases(versions, champion="2")
    message = "has no 'previous-champion' alias: nothing to roll back to; a promotion sets it"
    with pytest.raises(PromotionError, match=message):
        promotion.rollback(versions, NAME)
    assert _aliases(versions) == {"champion": "2"}


@pytest.mark.parametrize("champion_set", [True, False])
def test_decide_a_first_champion_warns_when_the_model_has_other_aliases(
    versions: MlflowClient, champion_set: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """`--champion champoin` (a typo): no version has it, so the challenger becomes the
    first; when the model has another alias (its real champion), the warning names it."""
    from petalflow.training import promotion

    _set_aliases(versions, challenger="2", **({"champion": "1"} if champion_set else {}))
    with caplog.at_level("WARNING", logger="petalflow.training.promotion"):
        decision = promotion.decide(versions, promotion.Request(NAME, champion="champoin"))
    assert (decision.promoted, decision.champion) == (True, None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    expected = (
        f"no version of {NAME} has the alias 'champoin', so the challenger becomes the "
        "first; the model's other aliases are champion (version 1): if --champion meant "
        "one of them, move them back"
    )
    assert warnings == ([expected] if champion_set else [])


def test_rollback_of_a_model_not_registered_names_the_ones_there_are(
    versions: MlflowClient,
) -> None:
    from petalflow.core.errors import PromotionError
    from petalflow.training import promotion

    message = (
        f"no registered model is named 'nosuch'; the registry has \\['{NAME}'\\]: "
        "nothing to roll back to"
    )
    with pytest.raises(PromotionError, match=message):
        promotion.rollback(versions, "nosuch")


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "min_delta", "better"),
    [
        ("f1_macro", 0.75, 0.5, 0.25, True),  # exactly the margin: "at least min_delta better"
        ("f1_macro", 0.75, 0.75, 0.0, True),  # a tie wins without a margin
        ("f1_macro", 0.5, 0.75, 0.0, False),
        ("log_loss", 0.25, 0.5, 0.25, True),  # a loss: lower is better
        ("log_loss", 0.5, 0.25, 0.0, False),
        ("log_loss", 0.5, 0.75, 0.5, False),
    ],
)
def test_better_needs_the_margin_in_the_metrics_direction(
    metric: str, challenger: float, champion: float, min_delta: float, better: bool
) -> None:
    from petalflow.training import cross_validation as cv
    from petalflow.training import promotion

    assert promotion._better(cv.METRICS[metric], challenger, champion, min_delta) is better


SPECIES = ["setosa", "versicolor", "virginica"]  # the classes of every Iris model


def _labelled_log(
    path: Path,
    rows: np.ndarray,
    labels: list[str],
    classes: list[str] = SPECIES,
    prefix: str = "r",
) -> Path:
    """A prediction log (new, or added to) whose requests (one row each, ids ``prefix``
    and a number) got ``labels`` as feedback."""
    from petalflow.monitoring.prediction_log import PredictionLog

    proba = [[1.0] + [0.0] * (len(classes) - 1)]
    with PredictionLog(path) as log:
        for i, row in enumerate(rows):
            log.record(f"{prefix}{i}", "run", [row.tolist()], [labels[i]], classes, proba)
        assert log.flush()
        for i, label in enumerate(labels):
            log.add_feedback(f"{prefix}{i}", label)
    return path


def _promotion_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "petalflow.training.promotion"]


@pytest.mark.parametrize("n", [29, 30])  # MIN_FEEDBACK is 30
def test_feedback_needs_min_feedback_labelled_rows(
    n: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from petalflow.training import promotion

    X, y = load_dataset()
    rows, labels = X.to_numpy()[::5][:n], [str(label) for label in y[::5][:n]]
    request = promotion.Request(NAME, prediction_log=_labelled_log(tmp_path / "p.db", rows, labels))
    with caplog.at_level(logging.INFO, logger="petalflow.training.promotion"):
        found = promotion._feedback(request, prepare("iris", 0.2, 42), SPECIES)
    if n < 30:
        assert found is None
        assert _promotion_logs(caplog) == [
            "prediction log: 29 labelled rows of this model's features, 30 needed"
        ]
        return
    features, truth = found
    assert list(features.columns) == list(X.columns)
    np.testing.assert_array_equal(features.to_numpy(), rows[::-1])  # newest first
    assert list(truth) == labels[::-1]


def test_feedback_ignores_a_log_of_other_features(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from petalflow.training import promotion

    X, y = load_dataset()
    labels = [str(label) for label in y[:40]]
    path = _labelled_log(tmp_path / "p.db", X.to_numpy()[:40, :2], labels)  # 2 features
    request = promotion.Request(NAME, prediction_log=path)
    with caplog.at_level(logging.INFO, logger="petalflow.training.promotion"):
        assert promotion._feedback(request, prepare("iris", 0.2, 42), SPECIES) is None
    assert _promotion_logs(caplog) == [
        "prediction log: 0 labelled rows of this model's features, 30 needed"
    ]


def test_feedback_uses_only_predictions_over_the_models_classes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Another model's log of four features (classes hot and cold): its labels cannot score
    # an Iris model (scikit-learn raised on them, a traceback and exit 1).
    from petalflow.training import promotion

    X, y = load_dataset()
    rows = X.to_numpy()
    path = _labelled_log(tmp_path / "p.db", rows[:40], ["hot", "cold"] * 20, ["cold", "hot"])
    request = promotion.Request(NAME, prediction_log=path)
    with caplog.at_level(logging.INFO, logger="petalflow.training.promotion"):
        assert promotion._feedback(request, prepare("iris", 0.2, 42), SPECIES) is None
    assert _promotion_logs(caplog) == [
        "prediction log: 0 labelled rows of this model's features, 30 needed"
    ]
    # the Iris model's own predictions, logged later, are used, and only they
    species = [str(label) for label in y[40:75]]
    _labelled_log(path, rows[40:75], species, prefix="iris")
    features, truth = promotion._feedback(request, prepare("iris", 0.2, 42), SPECIES)
    assert list(truth) == species[::-1]
    np.testing.assert_array_equal(features.to_numpy(), rows[40:75][::-1])


def test_feedback_counts_its_limit_among_the_models_own_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # newer labelled rows of another model (as many as MAX_FEEDBACK) must not hide the
    # Iris model's: the limit counts rows over its classes
    from petalflow.training import promotion

    monkeypatch.setattr(promotion, "MAX_FEEDBACK", 40)
    X, y = load_dataset()
    rows = X.to_numpy()
    species = [str(label) for label in y[50:90]]
    path = _labelled_log(tmp_path / "p.db", rows[50:90], species, prefix="iris")
    _labelled_log(path, rows[:40], ["hot", "cold"] * 20, ["cold", "hot"], prefix="other")
    request = promotion.Request(NAME, prediction_log=path)
    features, truth = promotion._feedback(request, prepare("iris", 0.2, 42), SPECIES)
    assert list(truth) == species[::-1]
    np.testing.assert_array_equal(features.to_numpy(), rows[50:90][::-1])


def test_feedback_refuses_a_file_that_is_not_a_prediction_log(tmp_path: Path) -> None:
    from petalflow.core.errors import PromotionError
    from petalflow.training import promotion

    path = tmp_path / "notes.db"
    path.write_text("not a database")
    request = promotion.Request(NAME, prediction_log=path)
    with pytest.raises(PromotionError, match=r"^argument --prediction-log: .*notes\.db"):
        promotion._feedback(request, prepare("iris", 0.2, 42), SPECIES)


def test_evaluate_scores_a_binary_data_set_on_its_labelled_predictions(tmp_path: Path) -> None:
    # Breast cancer: a binary target with a positive class, which the contract the
    # feedback rows are decoded with must list among the model's classes.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from petalflow.training import promotion

    dataset = prepare("breast_cancer", 0.2, 42)
    split = dataset.split
    assert dataset.positive_class == "malignant"
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000)).fit(
            split.X_train, split.y_train
        )
        for c in (1.0, 0.001)
    ]
    classes = [str(c) for c in models[0].classes_]
    X_log, y_log = split.X_test.iloc[:40], [str(label) for label in split.y_test.iloc[:40]]
    path = _labelled_log(tmp_path / "p.db", X_log.to_numpy(), y_log, classes)
    request = promotion.Request(NAME, metric="roc_auc_ovr", prediction_log=path)

    scores, described = promotion._evaluate(request, dataset, *models)

    def auc(model: object, X: object, y: object) -> float:
        column = classes.index("malignant")
        proba = model.predict_proba(X)[:, column]  # type: ignore[attr-defined]
        return float(roc_auc_score(np.asarray(y) == "malignant", proba))

    for name, X, y in (("test_split", split.X_test, split.y_test), ("feedback", X_log, y_log)):
        ours, theirs = auc(models[0], X, y), auc(models[1], X, y)
        assert scores[name]["challenger"] == pytest.approx(ours, abs=1e-12)
        assert scores[name]["champion"] == pytest.approx(theirs, abs=1e-12)
        assert scores[name]["challenger_better"] is (ours >= theirs)
    assert described[1] == f"40 labelled predictions of {path}"


@pytest.mark.parametrize(
    ("promoted", "champion", "expected"),
    [
        (
            True,
            "1",
            "promoted m version 2 (f1_macro, min delta 0.01) test_split: challenger 0.9667 vs "
            "champion 0.5000; feedback: challenger 1.0000 vs champion 0.8750",
        ),
        (
            False,
            "1",
            "kept the champion; did not promote m version 2 (f1_macro, min delta 0.01) "
            "test_split: challenger 0.9667 vs champion 0.5000; feedback: challenger 1.0000 vs "
            "champion 0.8750",
        ),
        (True, None, "promoted m version 2 to champion: there was no champion"),
    ],
)
def test_decision_summary_shows_every_evaluations_scores(
    promoted: bool, champion: str | None, expected: str
) -> None:
    from petalflow.training import promotion

    scores = {
        "test_split": {"challenger": 29 / 30, "champion": 0.5},
        "feedback": {"challenger": 1.0, "champion": 0.875},
    }
    decision = promotion.Decision(promoted, "2", champion, scores if champion else {})
    assert decision.summary(promotion.Request("m", min_delta=0.01)) == expected


def test_promote_names_the_registered_models_when_the_name_has_a_typo(
    registry: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert petalflow_main(["promote", "--model-name", "iris-cfl"]) == 2
    err = capsys.readouterr().err
    assert "no registered model is named 'iris-cfl'; the registry has ['iris-clf']" in err
    assert "register one with --register-model iris-cfl --alias challenger" in err
    assert _aliases(registry) == {"champion": "1", "challenger": "2"}
