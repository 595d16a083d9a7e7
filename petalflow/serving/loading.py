"""Loading the served model from local artifacts or any MLflow model URI."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from petalflow.core import artifacts
from petalflow.core.errors import ModelIntegrityError, ModelLoadError, TrackingError

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A fitted pipeline and everything the API reports about it."""

    pipeline: Pipeline
    model_version: str
    run_id: str | None
    source: str
    sha256: str | None
    feature_names: list[str]
    class_names: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def pipeline_proba(self, rows: np.ndarray) -> np.ndarray:
        """The pipeline's own predict_proba on rows in feature order."""
        frame = pd.DataFrame(rows, columns=self.feature_names)
        return np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def load_from_artifacts(directory: Path) -> LoadedModel:
    """Load ``model.joblib`` after checking its sha256 against ``model_info.json``."""
    directory = Path(directory)
    info_path = directory / artifacts.MODEL_INFO_FILE
    model_path = directory / artifacts.MODEL_FILE
    hint = "run `python train.py` (or `make train`), or set MODEL_URI to an MLflow model URI"
    if not model_path.exists():
        raise ModelLoadError(f"no model at {model_path}; {hint}")
    if not info_path.exists():
        raise ModelLoadError(f"no {artifacts.MODEL_INFO_FILE} beside {model_path}; {hint}")
    try:
        info = json.loads(info_path.read_text())
        expected = str(info["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"{info_path} is not a valid model_info.json ({exc}); {hint}"
        ) from None
    actual = artifacts.sha256_file(model_path)
    if actual != expected:
        # Never unpickle a file we cannot vouch for: joblib.load runs arbitrary code.
        raise ModelIntegrityError(
            f"{model_path} has sha256 {actual[:12]}..., but model_info.json records "
            f"{expected[:12]}...; refusing to load it; retrain with `python train.py`"
        )
    pipeline = joblib.load(model_path)
    run_id = info.get("run_id") or None
    return LoadedModel(
        pipeline=pipeline,
        model_version=run_id or f"sha256:{actual[:12]}",
        run_id=run_id,
        source=str(directory.resolve()),
        sha256=actual,
        feature_names=list(info["feature_names"]),
        class_names=[str(c) for c in pipeline.classes_],
        params=_read_json(directory / artifacts.PARAMS_FILE) or {},
        metrics=_read_json(directory / artifacts.METRICS_FILE) or {},
        reference=_read_json(directory / artifacts.REFERENCE_FILE),
    )


def _run_json_files(run_id: str) -> dict[str, Any]:
    """The run's JSON artifacts (one download); a missing file is simply absent."""
    import mlflow

    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            root = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tmp))
        except Exception:  # a run without artifacts still serves, without extras
            logger.debug("run %s has no downloadable artifacts", run_id, exc_info=True)
            return found
        for name in artifacts.JSON_FILES:
            if (root / name).is_file():
                found[name] = json.loads((root / name).read_text())
    return found


def load_from_uri(uri: str) -> LoadedModel:
    """Load any MLflow model URI and resolve the training run behind it."""
    # MLflow is imported only for URI sources: serving local artifacts starts faster.
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from petalflow.training import tracking

    tracking_uri = tracking.resolve_tracking_uri()
    try:
        tracking.connect(tracking_uri)
    except TrackingError as exc:
        raise ModelLoadError(f"cannot load {uri}: {exc}") from None
    try:
        # One download serves both the MLmodel metadata and the model itself.
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            model_info = Model.load(local)
            pipeline = mlflow.sklearn.load_model(local)
    except (MlflowException, OSError) as exc:
        message = exc.message if isinstance(exc, MlflowException) else str(exc)
        raise ModelLoadError(
            f"cannot load model {uri} from {tracking_uri}: {message.splitlines()[0]}; check the "
            "name, version or alias (`mlflow ui` lists them) or train with --register-model"
        ) from None
    run_id = model_info.run_id
    files = _run_json_files(run_id) if run_id else {}
    params, metrics = files.get(artifacts.PARAMS_FILE), files.get(artifacts.METRICS_FILE)
    if run_id and (params is None or metrics is None):  # an older run: ask the store
        run = mlflow.get_run(run_id)
        params = params if params is not None else dict(run.data.params)
        metrics = metrics if metrics is not None else dict(run.data.metrics)
    sha256 = (files.get(artifacts.MODEL_INFO_FILE) or {}).get("sha256")
    if run_id:
        version = run_id
    elif sha256:
        version = f"sha256:{sha256[:12]}"
    else:
        version = f"uri:{uri}"
    return LoadedModel(
        pipeline=pipeline,
        model_version=version,
        run_id=run_id,
        source=uri,
        sha256=sha256,
        feature_names=[str(c) for c in getattr(pipeline, "feature_names_in_", [])]
        or list(model_info.signature.inputs.input_names()),
        class_names=[str(c) for c in pipeline.classes_],
        params=params or {},
        metrics=metrics or {},
        reference=files.get(artifacts.REFERENCE_FILE),
    )


def load_model(model_uri: str | None, artifacts_dir: Path) -> LoadedModel:
    """The model named by MODEL_URI, else the local artifacts folder."""
    model = load_from_uri(model_uri) if model_uri else load_from_artifacts(artifacts_dir)
    logger.info(
        "loaded model %s from %s (%d features, classes %s)",
        model.model_version,
        model.source,
        len(model.feature_names),
        ", ".join(model.class_names),
    )
    return model
