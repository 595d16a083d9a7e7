"""The training stage: data -> pipeline -> metrics -> artifacts + one MLflow run."""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import joblib
import mlflow
import numpy as np
import sklearn
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from sklearn.pipeline import Pipeline

from petalflow.core import artifacts, reference
from petalflow.core.contract import ModelContract
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


@dataclass(frozen=True)
class _Fitted:
    """The fitted pipeline and what is derived from it."""

    pipeline: Pipeline
    scores: dict[str, float]
    matrix: dict[str, Any]
    contract: ModelContract


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


def train(config: TrainConfig, dataset: data.Dataset, root: Path = PROJECT_ROOT) -> TrainingResult:
    """Train on ``dataset`` (loaded and split once, by the caller), evaluate, log one
    MLflow run and publish the artifacts atomically."""
    uri = tracking.resolve_tracking_uri(root)
    client = tracking.connect(uri)
    target = Path(config.artifacts_dir)
    try:
        scores, info = _train_and_log(config, dataset, client, uri, root)
    except (MlflowException, OSError) as exc:
        # By now the run is marked FAILED and the staging folder is gone.
        raise TrackingError(
            f"training failed while logging to {uri} or writing {target}: {exc}; "
            "the previous artifacts are unchanged; fix the store or folder and retrain"
        ) from exc
    logger.info("artifacts written to %s", target.resolve())
    return TrainingResult(info["run_id"], target.resolve(), scores, info)


def _train_and_log(
    config: TrainConfig, dataset: data.Dataset, client: MlflowClient, uri: str, root: Path
) -> tuple[dict[str, float], dict[str, Any]]:
    # The run is the outer context: a failure while publishing still marks it FAILED.
    with tracking.training_run(client, config.experiment_name, uri) as run:
        with artifacts.staged_directory(Path(config.artifacts_dir)) as staging:
            fitted = _fit(config, dataset)
            _write_artifacts(config, dataset, fitted, staging)
            _log_run(client, run, config, dataset, fitted, root)
            info = _log_model_and_info(client, run, uri, config, fitted, dataset, staging)
        # Last: an alias never points at a run whose artifacts did not all land.
        if info["registered_model"]:
            tracking.move_alias(client, info["registered_model"])
    return fitted.scores, info


def _fit(config: TrainConfig, dataset: data.Dataset) -> _Fitted:
    split = dataset.split
    pipeline = build_pipeline(config, dataset.features).fit(split.X_train, split.y_train)
    scores = metrics.evaluate(pipeline, split.X_test, split.y_test, dataset.positive_class)
    matrix = metrics.confusion(pipeline, split.X_test, split.y_test)
    logger.info("model=%s hyperparameters=%s", config.model, hyperparameters(config))
    logger.info("accuracy=%.4f f1_macro=%.4f", scores["accuracy"], scores["f1_macro"])
    contract = data.model_contract(dataset, pipeline.classes_)
    return _Fitted(pipeline, scores, matrix, contract)


def _write_artifacts(
    config: TrainConfig, dataset: data.Dataset, fitted: _Fitted, staging: Path
) -> None:
    """Every artifact but model_info.json (which needs the run's model URI)."""
    joblib.dump(fitted.pipeline, staging / artifacts.MODEL_FILE)
    artifacts.write_json(staging / artifacts.METRICS_FILE, fitted.scores)
    artifacts.write_json(staging / artifacts.PARAMS_FILE, config.params())
    artifacts.write_json(staging / artifacts.CONFUSION_FILE, fitted.matrix)
    artifacts.write_json(
        staging / artifacts.REFERENCE_FILE,
        reference.reference_stats(dataset.split.X_train, dataset.split.y_train),
    )
    artifacts.write_json(staging / artifacts.CONTRACT_FILE, fitted.contract.to_json())


def _log_run(
    client: MlflowClient,
    run: Run,
    config: TrainConfig,
    dataset: data.Dataset,
    fitted: _Fitted,
    root: Path,
) -> None:
    """Params, metrics, tags, the data set input and the confusion-matrix figure."""
    tracking.log_params_once(client, run.info.run_id, config.params())
    mlflow.log_metrics(fitted.scores)
    commit = tracking.git_commit(root)
    mlflow.set_tags(
        {
            "dataset": dataset.name,
            "dataset_sha256": data.dataset_sha256(dataset.X, dataset.y),
            **({"git_commit": commit} if commit else {}),
        }
    )
    table = dataset.X.assign(**{dataset.target: dataset.y})
    mlflow.log_input(
        from_pandas(table, name=dataset.name, targets=dataset.target),
        context="training",
    )
    mlflow.log_figure(metrics.confusion_figure(fitted.matrix), "confusion_matrix.png")


@contextmanager
def _skip_requirement_mismatch_check() -> Iterator[None]:
    """MLflow checks the model's pip requirements against the installed packages by
    reading every installed distribution's file list (~0.5 s). The requirements are
    the running versions (``_pip_requirements``), so that check cannot find a mismatch."""
    import mlflow.pyfunc
    import mlflow.utils.environment

    with ExitStack() as stack:
        for module in (mlflow.utils.environment, mlflow.pyfunc):
            if hasattr(module, "warn_dependency_requirement_mismatches"):
                stack.enter_context(
                    mock.patch.object(
                        module, "warn_dependency_requirement_mismatches", lambda _reqs: None
                    )
                )
        yield


def signature(contract: ModelContract, pipeline: Pipeline, example: Any) -> ModelSignature:
    """Inputs from the contract (numbers as double, categories as string, nullable ->
    not required); the output inferred from the prediction of ``example``."""
    inputs = Schema(
        [
            ColSpec("double" if f.numeric else "string", f.name, required=not f.nullable)
            for f in contract.features
        ]
    )
    outputs = infer_signature(example, pipeline.predict(example)).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


def _log_model(pipeline: Pipeline, example: Any, contract: ModelContract) -> ModelInfo:
    """The MLflow model: skops format, input example, contract signature, pinned pip."""
    with _skip_requirement_mismatch_check():
        return mlflow.sklearn.log_model(
            pipeline,
            name="model",
            input_example=example,
            signature=signature(contract, pipeline, example),
            pip_requirements=_pip_requirements(),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )


def _log_model_and_info(
    client: MlflowClient,
    run: Run,
    uri: str,
    config: TrainConfig,
    fitted: _Fitted,
    dataset: data.Dataset,
    staging: Path,
) -> dict[str, Any]:
    """Log (and register) the model, write model_info.json, log every JSON artifact."""
    logged = _log_model(fitted.pipeline, dataset.split.X_train.head(5), fitted.contract)
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
        "feature_names": fitted.contract.feature_names,
        "class_names": list(fitted.contract.classes),
        "versions": versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    artifacts.write_json(staging / artifacts.MODEL_INFO_FILE, info)
    for name in artifacts.JSON_FILES:
        mlflow.log_artifact(str(staging / name))
    return info
