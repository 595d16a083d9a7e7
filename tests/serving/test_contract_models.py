"""Serving a model trained on a table with categories and gaps (penguins): not yet; the
server refuses to start with a clear message instead of answering 422 or 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings, train_into


def test_a_penguins_model_is_refused_at_start_naming_its_features(
    tmp_path: Path, isolated_tracking: str
) -> None:
    from petalflow.core.errors import ContractError
    from petalflow.serving.app import create_app
    from petalflow.serving.fastpath import build_verified_fast_path
    from petalflow.serving.loading import load_from_artifacts

    folder = train_into(tmp_path / "artifacts", "--dataset", "penguins")
    app = create_app(make_settings(folder))
    with (
        pytest.raises(ContractError, match=r"\(island, bill_length_mm, .*, sex\)"),
        TestClient(app),
    ):
        pass
    loaded = load_from_artifacts(folder)
    # The fast path knows scaler + classifier only: it declines, the pipeline would score.
    assert build_verified_fast_path(loaded.pipeline, loaded.contract) is None
    assert loaded.feature_names == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    ]
