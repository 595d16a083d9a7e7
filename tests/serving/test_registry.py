"""Registry resolution: which URI names a registered model, which version an alias names,
and the identity (logged-model id, registry entry) each URI form loads with."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from petalflow.core.errors import ModelLoadError
from petalflow.serving.loading import load_from_artifacts, load_from_uri
from petalflow.serving.registry import RegistryRef, logged_model_id, resolve
from tests.conftest import train_into

NAME = "iris-classifier"


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("models:/iris@champion", RegistryRef("iris", alias="champion")),
        ("models:/iris/3", RegistryRef("iris", version="3")),
        ("models:/iris.v2@prod-2", RegistryRef("iris.v2", alias="prod-2")),
        ("models:/iris/latest", None),
        ("models:/iris/Production", None),
        ("models:/m-0123abcd", None),
        ("runs:/abc/model", None),
        ("models:/@champion", None),
        ("models:/iris@", None),
        ("/srv/models/iris", None),
        (None, None),
    ],
)
def test_registry_ref_parses_only_version_and_alias_uris(
    uri: str | None, ref: RegistryRef | None
) -> None:
    assert RegistryRef.parse(uri) == ref


@pytest.mark.parametrize(
    ("uri", "model_id"),
    [
        ("models:/m-0123abcd", "m-0123abcd"),
        ("models:/m-0123abcd/extra", None),
        ("models:/iris@champion", None),
        ("runs:/m-1/model", None),
        (None, None),
    ],
)
def test_logged_model_id_comes_only_from_a_logged_model_uri(
    uri: str | None, model_id: str | None
) -> None:
    assert logged_model_id(uri) == model_id


@pytest.fixture()
def two_versions(tmp_path: Path, tracking_uri: str) -> list[dict[str, object]]:
    """Version 1 behind @champion, version 2 unaliased; their model_info.json."""
    one = train_into(tmp_path / "a", "--register-model", NAME, "--alias", "champion")
    two = train_into(tmp_path / "b", "--register-model", NAME, "--C", "0.05")
    return [json.loads((folder / "model_info.json").read_text()) for folder in (one, two)]


def test_resolve_follows_the_alias_as_it_moves(
    two_versions: list[dict[str, object]], tracking_uri: str
) -> None:
    ref = RegistryRef("iris-classifier", alias="champion")
    first = resolve(ref, tracking_uri)
    assert (first.version, first.run_id) == ("1", two_versions[0]["run_id"])
    assert first.pinned_uri == f"models:/{NAME}/1"
    MlflowClient(tracking_uri).set_registered_model_alias(NAME, "champion", "2")
    second = resolve(ref, tracking_uri)
    assert (second.version, second.run_id) == ("2", two_versions[1]["run_id"])
    assert second.describe() == {"name": NAME, "version": "2", "alias": "champion"}
    # Already resolved: that version, whatever the alias names now.
    assert resolve(ref, tracking_uri, version="1").run_id == two_versions[0]["run_id"]


def test_resolve_names_the_uri_of_an_unknown_alias(
    two_versions: list[dict[str, object]], tracking_uri: str
) -> None:
    with pytest.raises(ModelLoadError, match=r"models:/iris-classifier@nope.*mlflow ui"):
        resolve(RegistryRef(NAME, alias="nope"), tracking_uri)


def test_each_uri_form_loads_with_its_identity(
    two_versions: list[dict[str, object]], tracking_uri: str
) -> None:
    info = two_versions[0]
    model_id = mlflow.models.get_model_info(f"models:/{NAME}/1").model_id
    assert model_id and str(info["model_uri"]).endswith(model_id)
    cases = {
        f"models:/{NAME}@champion": {"name": NAME, "version": "1", "alias": "champion"},
        f"models:/{NAME}/1": {"name": NAME, "version": "1", "alias": None},
        f"runs:/{info['run_id']}/model": None,
        str(info["model_uri"]): None,
    }
    for uri, registered in cases.items():
        loaded = load_from_uri(uri, tracking_uri)
        assert loaded.model_version == loaded.run_id == info["run_id"]
        assert loaded.registered_model == registered, uri
        assert loaded.model_id == model_id, uri
        assert loaded.source == uri


def test_alias_load_downloads_the_version_it_was_given(
    two_versions: list[dict[str, object]], tracking_uri: str
) -> None:
    """A follower resolves the alias, then loads exactly that version even if it moved."""
    loaded = load_from_uri(f"models:/{NAME}@champion", tracking_uri, version="2")
    assert loaded.model_version == two_versions[1]["run_id"]
    assert loaded.registered_model == {"name": NAME, "version": "2", "alias": "champion"}


def test_artifacts_carry_the_logged_model_id_and_no_registry_entry(trained: Path) -> None:
    info = json.loads((trained / "model_info.json").read_text())
    loaded = load_from_artifacts(trained)
    assert loaded.model_id == str(info["model_uri"]).removeprefix("models:/")
    assert loaded.registered_model is None
