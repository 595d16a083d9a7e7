"""The training stage: data -> pipeline -> metrics -> artifacts + one MLflow run.

``train`` serves train.py; ``train_with`` serves any command whose run must do more before
its model is fitted (tune runs its study there), through a ``plan`` that returns the
``Recipe`` to fit: the same artifacts, run contents and model whoever asks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from petalflow.core import artifacts, reference
from petalflow.core.errors import TrackingError
from petalflow.training import data, diagnostics, mlflow_model, tracking
from petalflow.training.assessment import Assessment, assess
from petalflow.training.config import PROJECT_ROOT, TrainConfig
from petalflow.training.pipeline import build_pipeline, hyperparameters
from petalflow.training.signals import signals_held

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """What a training produced."""

    run_id: str
    artifacts_dir: Path
    metrics: dict[str, float]
    model_info: dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    """What one training fits and records: train.py's flags, or tune's best trial."""

    pipeline: Pipeline  # unfitted
    params: dict[str, Any]  # params.json, and the run's params
    name: str  # the run's name
    summary: str  # the model and its hyperparameters, for the log
    split: str  # how the rows were split, for the run's description
    seed: int
    artifacts_dir: str
    register_model: str | None = None
    alias: str | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)  # beside the test scores
    # ``pipeline`` already fitted and assessed (in its folder) by the caller: tune's search
    # process does it while this process logs the trials.
    assessment: Assessment | None = None


# The logged data set's digest: the start of the dataset_sha256 tag (MLflow's own are 8).
DIGEST_CHARS = 8

# A plan turns the open run into the recipe to fit (tune searches first, in that run).
Plan = Callable[[MlflowClient, Run], Recipe]


def recipe_for(config: TrainConfig, dataset: data.Dataset) -> Recipe:
    """train.py's recipe: the flags' model, named after its main hyperparameters."""
    shown = hyperparameters(config)
    named = {"C": config.C} if config.model == "logreg" else shown
    return Recipe(
        pipeline=build_pipeline(config, dataset.features),
        params=config.params(),
        name=diagnostics.run_name(config.model, named, config.seed),
        summary=f"model={config.model} hyperparameters={shown}",
        split=f"stratified, test size {config.test_size}, seed {config.seed}",
        seed=config.seed,
        artifacts_dir=config.artifacts_dir,
        register_model=config.register_model,
        alias=config.alias,
    )


def train(config: TrainConfig, dataset: data.Dataset, root: Path = PROJECT_ROOT) -> TrainingResult:
    """Train on ``dataset`` (loaded and split once, by the caller), evaluate, log one
    MLflow run and publish the artifacts atomically."""
    recipe = recipe_for(config, dataset)
    return train_with(
        config.experiment_name,
        config.artifacts_dir,
        dataset,
        lambda _client, _run: recipe,
        root,
        run_name=recipe.name,
    )


STOP_HELD = "stopping once the run is logged and published (a second signal stops now)"


def train_with(
    experiment_name: str,
    artifacts_dir: str,
    dataset: data.Dataset,
    plan: Plan,
    root: Path,
    *,
    run_name: str,
) -> TrainingResult:
    """One run in ``experiment_name``, named from its start: ``plan`` (in the run), then
    fit, evaluate, log and publish ``artifacts_dir``; TrackingError if the store or the
    folder fails."""
    uri = tracking.resolve_tracking_uri(root)
    client = tracking.connect(uri)
    target = Path(artifacts_dir)
    # A stop from the folder's swap (with a database store: from the publishing's first
    # write) to the run's end waits for the run to end FINISHED (``_publish`` holds it in
    # ``ending``): else the folder and the alias could name a run marked FAILED.
    with contextlib.ExitStack() as ending:
        try:
            # The run is the outer context: a failure while publishing marks it FAILED.
            with tracking.training_run(client, experiment_name, uri, run_name) as run:
                recipe = plan(client, run)
                if "experiment_name" in recipe.params:  # where the run is, said truly
                    actual = tracking.experiment_of(client, run, experiment_name)
                    recipe.params["experiment_name"] = actual
                scores, info = _publish(client, run, uri, recipe, dataset, root, ending)
        except (MlflowException, OSError) as exc:
            # By now the run is marked FAILED and the staging folder is gone.
            raise TrackingError(
                f"training failed while logging to {uri} or writing {target}: {exc}; "
                "the previous artifacts are unchanged; fix the store or folder and retrain"
            ) from exc
        # Before a held stop acts: its "interrupted" comes after this line.
        logger.info("artifacts written to %s", target.resolve())
    return TrainingResult(info["run_id"], target.resolve(), scores, info)


def _publish(
    client: MlflowClient,
    run: Run,
    uri: str,
    recipe: Recipe,
    dataset: data.Dataset,
    root: Path,
    ending: contextlib.ExitStack,
) -> tuple[dict[str, float], dict[str, Any]]:
    with (
        artifacts.staged_directory(Path(recipe.artifacts_dir)) as staging,
        _assessed(recipe, dataset) as fitted,
    ):
        _write_artifacts(recipe, dataset, fitted, staging)
        # Held until the run has ended (see train_with). With a database store, from
        # here: a stop inside a store call would leave its session holding the database's
        # lock, and the run could not be marked FAILED (RUNNING, after a 20 s wait). A
        # server's calls may be slow: there, only from the folder's swap.
        database = tracking.is_database(uri)
        if database:
            ending.enter_context(signals_held(STOP_HELD))
        _log_run(client, run, recipe, dataset, fitted, root)
        info = _log_model_and_info(client, run, uri, recipe, fitted, dataset, staging)
        if not database:
            ending.enter_context(signals_held(STOP_HELD))
    # Last: an alias never points at a run whose artifacts did not all land.
    if info["registered_model"]:
        tracking.move_alias(client, info["registered_model"])
    return fitted.scores, info


@contextlib.contextmanager
def _assessed(recipe: Recipe, dataset: data.Dataset) -> Iterator[Assessment]:
    """The recipe's assessment (made now, in a temporary folder, unless the caller
    brought it), with the recipe's extra metrics after the test scores."""
    with contextlib.ExitStack() as stack:
        made = recipe.assessment
        if made is None:
            folder = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="petalflow-assessment-")
            )
            made = assess(recipe.pipeline, dataset, recipe.seed, Path(folder))
        scores = made.scores
        logger.info("%s", recipe.summary)
        logger.info("accuracy=%.4f f1_macro=%.4f", scores["accuracy"], scores["f1_macro"])
        yield dataclasses.replace(made, scores={**scores, **recipe.extra_metrics})


def _write_artifacts(
    recipe: Recipe, dataset: data.Dataset, fitted: Assessment, staging: Path
) -> None:
    """Every artifact but model_info.json (which needs the run's model URI)."""
    # Moved, not copied: a forest's file can be large (a rename on one file system).
    shutil.move(fitted.model_file, staging / artifacts.MODEL_FILE)
    artifacts.write_json(staging / artifacts.METRICS_FILE, fitted.scores)
    artifacts.write_json(staging / artifacts.PARAMS_FILE, recipe.params)
    artifacts.write_json(staging / artifacts.CONFUSION_FILE, fitted.matrix)
    artifacts.write_json(
        staging / artifacts.REFERENCE_FILE,
        reference.reference_stats(dataset.split.X_train, dataset.split.y_train),
    )
    artifacts.write_json(staging / artifacts.CONTRACT_FILE, fitted.contract.to_json())


def _tags(
    recipe: Recipe, dataset: data.Dataset, fitted: Assessment, root: Path, sha256: str
) -> dict[str, str]:
    """The data set's tags, the git commit, and the run's name and description."""
    commit = tracking.git_commit(root)
    split = dataset.split
    note = diagnostics.description(
        dataset.name,
        (len(split.y_train), len(split.y_test)),
        len(dataset.features),
        recipe.split,
        fitted.scores,
    )
    return {
        "dataset": dataset.name,
        "dataset_sha256": sha256,
        **({"git_commit": commit} if commit else {}),
        "mlflow.runName": recipe.name,
        "mlflow.note.content": note,
    }


def _log_run(
    client: MlflowClient,
    run: Run,
    recipe: Recipe,
    dataset: data.Dataset,
    fitted: Assessment,
    root: Path,
) -> None:
    """Params, metrics, tags, the data set input, and the figures and reports."""
    tracking.log_params_once(client, run.info.run_id, recipe.params)
    mlflow.log_metrics(fitted.scores)
    sha256 = dataset.sha256
    mlflow.set_tags(_tags(recipe, dataset, fitted, root, sha256))
    table = dataset.X.assign(**{dataset.target: dataset.y})  # copy-on-write: no cells copied
    logged = mlflow_model.training_input(
        table, dataset.features, dataset.target, dataset.name, sha256[:DIGEST_CHARS]
    )
    mlflow.log_input(logged, context="training")
    mlflow.log_artifacts(str(fitted.logged))


def _log_model_and_info(
    client: MlflowClient,
    run: Run,
    uri: str,
    recipe: Recipe,
    fitted: Assessment,
    dataset: data.Dataset,
    staging: Path,
) -> dict[str, Any]:
    """Log (and register) the model, write model_info.json, log every JSON artifact."""
    logged = mlflow_model.log_model(fitted.pipeline, dataset.split.X_train.head(5), fitted.contract)
    registered = (
        tracking.register(client, logged.model_uri, recipe.register_model, recipe.alias)
        if recipe.register_model
        else None
    )
    info = {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": uri,
        "model_uri": logged.model_uri,
        "registered_model": registered,
        "sha256": artifacts.sha256_file(staging / artifacts.MODEL_FILE),
        "contract_sha256": artifacts.sha256_file(staging / artifacts.CONTRACT_FILE),
        "feature_names": fitted.contract.feature_names,
        "class_names": list(fitted.contract.classes),
        "versions": mlflow_model.versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    artifacts.write_json(staging / artifacts.MODEL_INFO_FILE, info)
    for name in artifacts.JSON_FILES:
        mlflow.log_artifact(str(staging / name))
    return info
