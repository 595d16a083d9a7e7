"""Serving a model trained on a table with categories and gaps (penguins): the server
starts, refuses the fast path cleanly and documents the contract's features."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_settings, train_into


def test_a_penguins_model_is_served_without_a_fast_path(
    tmp_path: Path, isolated_tracking: str
) -> None:
    from petalflow.serving.app import create_app
    from petalflow.serving.fastpath import build_verified_fast_path
    from petalflow.serving.loading import load_from_artifacts

    folder = train_into(tmp_path / "artifacts", "--dataset", "penguins")
    with TestClient(create_app(make_settings(folder))) as client:
        assert client.get("/health").status_code == 200
        model = client.get("/model").json()
    loaded = load_from_artifacts(folder)
    # The fast path knows scaler + classifier only: it declines, the pipeline scores.
    assert build_verified_fast_path(loaded.pipeline, loaded.contract) is None
    assert model["feature_names"] == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    ]
