"""A registered model's aliases, as promote and rollback read them."""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from petalflow.core.errors import PromotionError


def previous_alias(champion: str) -> str:
    """The alias of the version ``champion`` named before a promotion (what rollback
    restores): ``previous-champion`` for ``champion``."""
    return f"previous-{champion}"


def version_by_alias(client: MlflowClient, name: str, alias: str, hint: str) -> ModelVersion | None:
    """The version ``name@alias`` names (None: no such alias); PromotionError, ending with
    ``hint``, when the registry cannot be read."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise PromotionError(f"cannot read {name}@{alias}: {exc.message}; {hint}") from exc


def unknown_model(client: MlflowClient, name: str) -> str | None:
    """Why ``name`` is not a registered model (a typo, say), naming the ones there are."""
    try:
        if client.search_registered_models(f"name = '{name}'", max_results=1):
            return None
        known = sorted(m.name for m in client.search_registered_models(max_results=20))
    except MlflowException:  # a name the filter cannot hold: the usual message
        return None
    return f"no registered model is named {name!r}; the registry has {known or 'none'}"
