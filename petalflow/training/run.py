"""The training stage: data -> pipeline -> metrics -> artifacts + one MLflow run."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import sklearn
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from petalflow.core import artifacts, reference
from petalflow.core.errors import TrackingError
from petalflow.training import data, tracking
from petalflow.training import evaluation as metrics
from petalflow.training.config import PROJECT_ROOT, TrainConfig
from petalflow.training.pipeline import SKOPS_TRUSTED_TYPES, build_pipeline, hyperparameters

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """What a training produced."""

    run_id: str
    artifacts_dir: Path
    metrics: dict[str, float]
    model_info: dict[str, Any]


def _pip_requirements() -> list[str]:
    # Explicit pins: MLflow's own inference costs ~8 s and guesses.
    import pandas
    import skops

    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pandas.__version__}",
        f"skops=={skops.__version__}",
    ]


def versions() -> dict[str, str]:
    """Library versions recorded in model_info.json."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "mlflow": mlflow.__version__,
        "numpy": np.__version__,
    }


def train(config: TrainConfig, root: Path = PROJECT_ROOT) -> TrainingResult:
    """Train, evaluate, log one MLflow run and publish the artifacts atomically."""
    X, y = data.load_dataset()
    split = data.split_dataset(X, y, config.test_size, config.seed)
    uri = tracking.resolve_tracking_uri(root)
    client = tracking.connect(uri)
    target = Path(config.artifacts_dir)
    try:
        scores, info = _train_and_log(config, split, client, uri, root)
    except (MlflowException, OSError) as exc:
        # By now the run is marked FAILED and the staging folder is gone.
        raise TrackingError(
            f"training failed while logging to {uri} or writing {target}: {exc}; "
            "the previous artifacts are unchanged; fix the store or folder and retrain"
        ) from exc
    logger.info("artifacts written to %s", target.resolve())
    return TrainingResult(info["run_id"], target.resolve(), scores, info)


def _train_and_log(
    config: TrainConfig, split: data.Split, client: MlflowClient, uri: str, root: Path
) -> tuple[dict[str, float], dict[str, Any]]:
    # The run is the outer context: a failure while publishing still marks it FAILED.
    with tracking.training_run(client, config.experiment_name, uri) as run:
        with artifacts.staged_directory(Path(config.artifacts_dir)) as staging:
            scores, info = _fit_and_log(config, split, client, uri, root, run, staging)
        # Last: an alias never points at a run whose artifacts did not all land.
        if info["registered_model"]:
            tracking.move_alias(client, info["registered_model"])
    return scores, info


def _fit_and_log(
    config: TrainConfig,
    split: data.Split,
    client: MlflowClient,
    uri: str,
    root: Path,
    run: Run,
    staging: Path,
) -> tuple[dict[str, float], dict[str, Any]]:
    pipeline = build_pipeline(config).fit(split.X_train, split.y_train)
    scores = metrics.evaluate(pipeline, split.X_test, split.y_test)
    matrix = metrics.confusion(pipeline, split.X_test, split.y_test)
    logger.info("model=%s hyperparameters=%s", config.model, hyperparameters(config))
    logger.info("accuracy=%.4f f1_macro=%.4f", scores["accuracy"], scores["f1_macro"])

    joblib.dump(pipeline, staging / artifacts.MODEL_FILE)
    artifacts.write_json(staging / artifacts.METRICS_FILE, scores)
    artifacts.write_json(staging / artifacts.PARAMS_FILE, config.params())
    artifacts.write_json(staging / artifacts.CONFUSION_FILE, matrix)
    artifacts.write_json(
        staging / artifacts.REFERENCE_FILE,
        reference.reference_stats(split.X_train, split.y_train),
    )

    tracking.log_params_once(client, run.info.run_id, config.params())
    mlflow.log_metrics(scores)
    X, y = data.load_dataset()
    commit = tracking.git_commit(root)
    mlflow.set_tags(
        {
            "dataset": data.DATASET_NAME,
            "dataset_sha256": data.dataset_sha256(X, y),
            **({"git_commit": commit} if commit else {}),
        }
    )
    mlflow.log_input(
        from_pandas(X.assign(species=y), name=data.DATASET_NAME, targets=data.TARGET_NAME),
        context="training",
    )
    mlflow.log_figure(metrics.confusion_figure(matrix), "confusion_matrix.png")
    example = split.X_train.head(5)
    logged = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        input_example=example,
        signature=infer_signature(example, pipeline.predict(example)),
        pip_requirements=_pip_requirements(),
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    registered = (
        tracking.register(client, logged.model_uri, config.register_model, config.alias)
        if config.register_model
        else None
    )
    info = {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": uri,
        "model_uri": logged.model_uri,
        "registered_model": registered,
        "sha256": artifacts.sha256_file(staging / artifacts.MODEL_FILE),
        "feature_names": list(data.FEATURE_NAMES),
        "class_names": [str(c) for c in pipeline.classes_],
        "versions": versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    artifacts.write_json(staging / artifacts.MODEL_INFO_FILE, info)
    for name in artifacts.JSON_FILES:
        mlflow.log_artifact(str(staging / name))
    return scores, info
