"""Where a served model comes from, and how to tell that it has changed.

A source names each of its models by a key: the registry version an alias points at,
the URI itself for a URI that cannot change (a version, a run, a logged model), or the
run id and sha256 that ``model_info.json`` records for a local artifacts folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from petalflow.core import artifacts
from petalflow.core.errors import ModelLoadError
from petalflow.serving.loading import (
    LoadedModel,
    Runner,
    in_process,
    load_from_artifacts,
    load_from_uri,
)
from petalflow.serving.registry import RegistryRef, resolve


class ModelSource(Protocol):
    """A model source a follower can check and load from."""

    #: As the user configured it (a URI or the artifacts folder as given).
    name: str
    #: Whether its model can change without a restart being asked for (an alias).
    follows: bool

    def latest(self) -> str:
        """The key of the model the source names now (ModelLoadError if it cannot tell)."""
        ...

    def load(self, key: str) -> LoadedModel:
        """Load the model of ``key`` (ModelLoadError if it cannot)."""
        ...

    def key_of(self, model: LoadedModel) -> str:
        """The key of a model loaded from this source."""
        ...


class UriSource:
    """Any MLflow model URI; a ``models:/NAME@ALIAS`` one follows its alias. ``run``
    decodes each model it loads."""

    def __init__(self, uri: str, tracking_uri: str, run: Runner = in_process) -> None:
        self.name, self.tracking_uri, self.run = uri, tracking_uri, run
        self.ref = RegistryRef.parse(uri)
        self.follows = self.ref is not None and self.ref.follows_alias

    def latest(self) -> str:
        if self.ref is None or not self.follows:
            return self.name  # a version, run or logged model never changes
        return resolve(self.ref, self.tracking_uri).version

    def load(self, key: str) -> LoadedModel:
        version = key if self.follows else None
        return load_from_uri(self.name, self.tracking_uri, version=version, run=self.run)

    def key_of(self, model: LoadedModel) -> str:
        if self.follows and model.registered_model:
            return str(model.registered_model["version"])
        return self.name

    def describe(self, key: str) -> str:
        """How log lines name a key: ``models:/NAME@ALIAS version N``, or the URI."""
        return f"{self.name} version {key}" if self.follows else self.name


class ArtifactsSource:
    """A local training output folder, checked by the run id and sha256 in its
    ``model_info.json`` (never followed on a timer: only ``POST /admin/reload`` checks
    it). The run id too: a retraining can write the same model bytes with another
    contract (bounds widened, say), or merely under another run."""

    follows = False

    def __init__(self, directory: Path, run: Runner = in_process) -> None:
        self.directory, self.run = directory, run
        self.name = str(directory)  # as configured: never a resolved server path

    def latest(self) -> str:
        path = self.directory / artifacts.MODEL_INFO_FILE
        try:
            info = json.loads(path.read_text())
            return _artifacts_key(info.get("run_id"), str(info["sha256"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelLoadError(
                f"cannot read the sha256 in {path} ({type(exc).__name__}); is a training "
                "writing it? retry when it has finished"
            ) from None

    def load(self, key: str) -> LoadedModel:
        return load_from_artifacts(self.directory, self.run)  # checks the sha256 again

    def key_of(self, model: LoadedModel) -> str:
        return _artifacts_key(model.run_id, model.sha256 or "")

    def describe(self, key: str) -> str:
        run_id, _, sha256 = key.rpartition(" ")
        return f"{self.name} ({f'run {run_id}, ' if run_id else ''}sha256 {sha256[:12]})"


def _artifacts_key(run_id: object, sha256: str) -> str:
    """``RUN_ID SHA256`` (the sha256 alone for a folder that records no run id)."""
    return f"{run_id} {sha256}" if run_id else sha256


def source_of(
    model_uri: str | None, artifacts_dir: Path, tracking_uri: str, run: Runner = in_process
) -> UriSource | ArtifactsSource:
    """The source a server is configured with: MODEL_URI, else ARTIFACTS_DIR."""
    if model_uri:
        return UriSource(model_uri, tracking_uri, run)
    return ArtifactsSource(artifacts_dir, run)
