"""The MLflow model registry behind a ``models:/`` URI: which version an alias names, and
the identity of what is served (registered name, version, alias; logged-model id).

Always through an explicit ``MlflowClient(tracking_uri)``, never MLflow's global state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from petalflow.core.errors import ModelLoadError

logger = logging.getLogger(__name__)

_PREFIX = "models:/"


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """A registered model named by a URI: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str | None) -> RegistryRef | None:
        """The registered model ``uri`` names; None for any other URI (``runs:/``, a
        logged model ``models:/m-...``, a stage or ``latest``, a path)."""
        if not uri or not uri.startswith(_PREFIX):
            return None
        rest = uri.removeprefix(_PREFIX).rstrip("/")
        if "@" in rest:
            name, _, alias = rest.rpartition("@")
            return cls(name, alias=alias) if name and alias and "/" not in alias else None
        name, _, version = rest.rpartition("/")
        return cls(name, version=version) if name and version.isdigit() else None

    @property
    def follows_alias(self) -> bool:
        """Whether the URI can point at another version later (an alias can move)."""
        return self.alias is not None


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """One registered model version, as the registry resolved it."""

    name: str
    version: str
    alias: str | None
    run_id: str | None
    model_id: str | None

    @property
    def pinned_uri(self) -> str:
        """The URI of exactly this version (the alias may move while it downloads)."""
        return f"{_PREFIX}{self.name}/{self.version}"

    def describe(self) -> dict[str, Any]:
        """``registered_model`` in /model: name, version and alias (null for a version URI)."""
        return {"name": self.name, "version": self.version, "alias": self.alias}


def _client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def resolve(ref: RegistryRef, tracking_uri: str, version: str | None = None) -> RegisteredVersion:
    """The version ``ref`` names now (or ``version``, already resolved from its alias);
    ModelLoadError saying what to check if the registry does not know it."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    uri = f"{_PREFIX}{ref.name}@{ref.alias}" if ref.alias else f"{_PREFIX}{ref.name}/{ref.version}"
    try:
        if version is None and ref.alias is not None:
            found = client.get_model_version_by_alias(ref.name, ref.alias)
        else:
            found = client.get_model_version(ref.name, version or ref.version)
    except MlflowException as exc:
        raise ModelLoadError(
            f"cannot load model {uri} from {tracking_uri}: {exc.message.splitlines()[0]}; check "
            "the name, version or alias (`mlflow ui` lists them) or train with --register-model"
        ) from None
    return RegisteredVersion(
        name=ref.name,
        version=str(found.version),
        alias=ref.alias,
        run_id=found.run_id or None,
        model_id=getattr(found, "model_id", None) or logged_model_id(found.source),
    )


def logged_model_id(uri: str | None) -> str | None:
    """The MLflow 3 logged-model id in a ``models:/m-...`` URI, else None."""
    if not uri or not uri.startswith(f"{_PREFIX}m-"):
        return None
    rest = uri.removeprefix(_PREFIX)
    return None if "/" in rest or "@" in rest else rest
