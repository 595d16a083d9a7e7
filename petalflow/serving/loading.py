"""Loading the served model from local artifacts or any MLflow model URI.

Everything the server needs to know about the model comes with it: the fitted pipeline,
its contract (``contract.json``: features, bounds, classes, verification rows), training
params and metrics, and the reference statistics for drift.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from petalflow.core import artifacts, store
from petalflow.core.codec import RowCodec
from petalflow.core.errors import ModelIntegrityError, ModelLoadError
from petalflow.core.model_card import ModelCard, contract_of, run_files
from petalflow.serving.registry import RegistryRef, logged_model_id, resolve

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Runner(Protocol):
    """Where a load step's work runs (decoding the model file, verifying its fast path):
    ``run(work)`` returns ``work()``'s result."""

    def __call__(self, work: Callable[[], T]) -> T: ...


def in_process(work: Callable[[], T]) -> T:
    """Run here (start-up; a reload passes ``lifecycle.isolation.in_child``)."""
    return work()


@dataclass(kw_only=True)
class LoadedModel(ModelCard):
    """A model card with its fitted pipeline: what the server scores with.

    ``model_id``: MLflow 3's logged-model id when known; ``registered_model``: name,
    version and alias when served from the registry (else None).
    """

    pipeline: Pipeline
    model_id: str | None = None
    registered_model: dict[str, Any] | None = None

    @cached_property
    def codec(self) -> RowCodec:
        """Encoded rows <-> the DataFrame the pipeline was trained on."""
        return RowCodec(self.contract)

    def pipeline_proba(self, rows: np.ndarray) -> np.ndarray:
        """The pipeline's own predict_proba on encoded rows (``petalflow.core.codec``)."""
        frame = self.codec.to_frame(rows)
        return np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _classes(pipeline: Any) -> list[str]:
    return [str(c) for c in pipeline.classes_]


def load_from_artifacts(directory: Path, run: Runner = in_process) -> LoadedModel:
    """Load ``model.joblib`` (decoded by ``run``) after checking its sha256 against
    ``model_info.json``."""
    directory = Path(directory)
    info_path = directory / artifacts.MODEL_INFO_FILE
    model_path = directory / artifacts.MODEL_FILE
    hint = (
        f"train into it (`python train.py --artifacts-dir {directory}`), point ARTIFACTS_DIR "
        "at a trained folder, or set MODEL_URI to an MLflow model URI"
    )
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
    pipeline = _decoded(run, functools.partial(joblib.load, model_path), str(model_path))
    run_id = info.get("run_id") or None
    model_id = info.get("model_id") or logged_model_id(info.get("model_uri"))
    contract_path = directory / artifacts.CONTRACT_FILE
    contract = contract_of(
        _read_json(contract_path),
        str(contract_path),
        _classes(pipeline),
        info["feature_names"],
        info.get("contract_sha256"),
    )
    return LoadedModel(
        pipeline=pipeline,
        model_version=run_id or f"sha256:{actual[:12]}",
        run_id=run_id,
        model_id=model_id,
        source=str(directory),  # as configured: never a resolved server path
        sha256=actual,
        contract=contract,
        params=_read_json(directory / artifacts.PARAMS_FILE) or {},
        metrics=_read_json(directory / artifacts.METRICS_FILE) or {},
        reference=_read_json(directory / artifacts.REFERENCE_FILE),
    )


def _check_reachable(uri: str, tracking_uri: str) -> None:
    # A path or an artifact-store URI is read without the tracking store
    needs_store = uri.startswith(("models:/", "runs:/"))
    if needs_store and (problem := store.missing_database(tracking_uri)):
        raise ModelLoadError(f"cannot load {uri}: {problem}")
    if problem := store.unreachable(tracking_uri):
        raise ModelLoadError(
            f"cannot load {uri}: the MLflow tracking server at {tracking_uri} does not answer "
            f"({problem}); start it or fix MLFLOW_TRACKING_URI"
        )


def _decoded(run: Runner, decode: Callable[[], Any], what: str) -> Any:
    """``decode()``, by ``run``; ModelLoadError naming ``what`` if the file is no model."""
    try:
        return run(decode)
    except ModelLoadError:
        raise
    except FileNotFoundError as exc:  # in the store's copy, not damaged: absent
        missing = Path(str(exc.filename)).name if exc.filename else str(exc)
        raise ModelLoadError(
            f"a file of the model of {what} is missing ({missing}): deleted, or not "
            "uploaded yet; upload it again, retrain, or serve another model"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(
            f"cannot decode the model file of {what} ({type(exc).__name__}: {exc}): it is "
            "damaged, or not one petalflow wrote; retrain it, or serve another model"
        ) from exc


def _download_model(uri: str, tracking_uri: str, label: str, run: Runner) -> tuple[Any, Any]:
    """(pipeline decoded by ``run``, MLmodel metadata) of ``uri``; ModelLoadError naming
    ``label`` (the URI as configured) and the store if not."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    try:
        # One download serves both the MLmodel metadata and the model itself.
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri, registry_uri=tracking_uri
            )
            decode = functools.partial(mlflow.sklearn.load_model, local)
            return _decoded(run, decode, f"{label} (from {tracking_uri})"), Model.load(local)
    except (MlflowException, OSError) as exc:
        message = exc.message if isinstance(exc, MlflowException) else str(exc)
        raise ModelLoadError(
            f"cannot load model {label} from {tracking_uri}: {message.splitlines()[0]}; check the "
            "name, version or alias (`mlflow ui` lists them) or train with --register-model"
        ) from None


def load_from_uri(
    uri: str, tracking_uri: str | None = None, version: str | None = None, run: Runner = in_process
) -> LoadedModel:
    """Load any MLflow model URI and resolve the training run behind it.

    A registry URI is resolved to one version first (``version``: the one its alias was
    found to name), and exactly that version is downloaded; ``run`` decodes the model.
    """
    from mlflow.tracking import MlflowClient

    tracking_uri = tracking_uri or store.resolve_tracking_uri()
    _check_reachable(uri, tracking_uri)
    ref = RegistryRef.parse(uri)
    registered = resolve(ref, tracking_uri, version) if ref else None
    label = f"{uri} (version {registered.version})" if registered and ref and ref.alias else uri
    pinned = registered.pinned_uri if registered else uri
    pipeline, model_info = _download_model(pinned, tracking_uri, label, run)
    run_id = model_info.run_id or (registered.run_id if registered else None)
    model_id = (registered.model_id if registered else None) or model_info.model_id
    files = run_files(run_id, tracking_uri) if run_id else {}
    params, metrics = files.get(artifacts.PARAMS_FILE), files.get(artifacts.METRICS_FILE)
    if run_id and (params is None or metrics is None):  # an older run: ask the store
        stored = MlflowClient(tracking_uri).get_run(run_id)
        params = params if params is not None else dict(stored.data.params)
        metrics = metrics if metrics is not None else dict(stored.data.metrics)
    sha256 = (files.get(artifacts.MODEL_INFO_FILE) or {}).get("sha256")
    version = run_id or (f"sha256:{sha256[:12]}" if sha256 else f"uri:{uri}")
    names = [str(c) for c in getattr(pipeline, "feature_names_in_", [])] or list(
        model_info.signature.inputs.input_names()
    )
    return LoadedModel(
        pipeline=pipeline,
        model_version=version,
        run_id=run_id,
        model_id=model_id or logged_model_id(uri),
        registered_model=registered.describe() if registered else None,
        source=uri,
        sha256=sha256,
        contract=contract_of(
            files.get(artifacts.CONTRACT_FILE),
            f"{uri} contract",
            _classes(pipeline),
            names,
            (files.get(artifacts.MODEL_INFO_FILE) or {}).get("contract_sha256"),
        ),
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
