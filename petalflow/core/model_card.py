"""What is known about a trained model without unpickling it: its card.

The card holds the version (the MLflow run id), the contract, training params and
metrics, and the reference statistics for drift. The server builds one beside the
fitted pipeline; the monitor builds one for the version that served the traffic, from
the local artifacts when they are that version's, else from its MLflow run.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from petalflow.core import artifacts
from petalflow.core.contract import ModelContract, numeric_contract, parse_contract
from petalflow.core.errors import ModelIntegrityError, ModelLoadError

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ModelCard:
    """A model's identity and the facts monitoring needs about it."""

    model_version: str
    run_id: str | None
    source: str
    sha256: str | None
    contract: ModelContract
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model order (from the contract)."""
        return self.contract.feature_names

    @property
    def class_names(self) -> list[str]:
        """Class names in the order of the probabilities."""
        return list(self.contract.classes)


def contract_of(
    document: Any,
    source: str,
    classes: Sequence[str],
    feature_names: Sequence[str],
    recorded_sha256: str | None = None,
) -> ModelContract:
    """The model's contract; a model trained before contracts gets one without bounds.

    ModelIntegrityError when model_info.json records the contract's sha256 (every model
    trained since) and the contract is missing or another: its rules would be off."""
    if recorded_sha256 is not None:
        found = None if document is None else artifacts.json_sha256(document)
        if found != recorded_sha256:
            state = "is missing" if found is None else f"has sha256 {found[:12]}..."
            raise ModelIntegrityError(
                f"{source} {state}, but model_info.json records {recorded_sha256[:12]}...: "
                "the model's files do not belong together; restore them or retrain"
            )
    if document is not None:
        contract = parse_contract(document, source)
        if contract.classes != list(classes):
            raise ModelLoadError(
                f"{source} lists classes {contract.classes}, but the model predicts "
                f"{list(classes)}; the files do not belong together: retrain"
            )
        return contract
    logger.warning(
        "%s has no %s (trained by an older petalflow): inputs are checked for type only, "
        "without bounds; retrain to serve with the full contract",
        source,
        artifacts.CONTRACT_FILE,
    )
    return numeric_contract("unknown", feature_names, classes, target="label")


def local_files(directory: Path) -> dict[str, Any]:
    """The JSON artifacts present in ``directory`` (a missing file is simply absent)."""
    found: dict[str, Any] = {}
    for name in artifacts.JSON_FILES:
        path = directory / name
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def run_files(run_id: str, tracking_uri: str) -> dict[str, Any]:
    """The JSON artifacts of an MLflow run (one download); absent files are absent."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            root = mlflow.artifacts.download_artifacts(
                run_id=run_id, dst_path=tmp, tracking_uri=tracking_uri
            )
        except Exception:  # a run without artifacts still serves, without extras
            logger.debug("run %s has no downloadable artifacts", run_id, exc_info=True)
            return {}
        return local_files(Path(root))


def card_from_files(files: dict[str, Any], version: str, source: str) -> ModelCard:
    """A card from a model's JSON artifacts (model_info.json and contract.json needed)."""
    info = files.get(artifacts.MODEL_INFO_FILE)
    if info is None:
        raise ModelLoadError(
            f"{source} has no {artifacts.MODEL_INFO_FILE}; was it trained by petalflow?"
        )
    classes = [str(c) for c in info.get("class_names", [])]
    contract = contract_of(
        files.get(artifacts.CONTRACT_FILE),
        source,
        classes,
        info.get("feature_names", []),
        info.get("contract_sha256"),
    )
    return ModelCard(
        model_version=version,
        run_id=info.get("run_id") or None,
        source=source,
        sha256=info.get("sha256"),
        contract=contract,
        params=files.get(artifacts.PARAMS_FILE) or {},
        metrics=files.get(artifacts.METRICS_FILE) or {},
        reference=files.get(artifacts.REFERENCE_FILE),
    )


def card_for_version(version: str, artifacts_dir: Path, tracking_uri: str) -> ModelCard:
    """The card of ``version``: from ``artifacts_dir`` when it holds that version, else
    from the MLflow run of that id. ModelLoadError says where it looked."""
    local = local_files(artifacts_dir) if artifacts_dir.is_dir() else {}
    info = local.get(artifacts.MODEL_INFO_FILE) or {}
    sha = str(info.get("sha256") or "")
    if version in (info.get("run_id"), f"sha256:{sha[:12]}"):
        return card_from_files(local, version, str(artifacts_dir))
    if version.startswith(("sha256:", "uri:")):
        raise ModelLoadError(
            f"model {version} served the traffic, but {artifacts_dir} holds another model "
            "and it has no MLflow run; point --artifacts-dir at its artifacts"
        )
    files = run_files(version, tracking_uri)
    if not files:
        raise ModelLoadError(
            f"model {version} served the traffic, but neither {artifacts_dir} nor the MLflow "
            f"store at {tracking_uri} has its artifacts; set MLFLOW_TRACKING_URI to the "
            "store it was trained in"
        )
    return card_from_files(files, version, f"runs:/{version}")
