"""The data plane's helpers that need no served model."""

from __future__ import annotations

from typing import Any

import pytest

from petalflow.serving.handlers import _shown_params


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        (
            {"model": "rf", "dataset": "iris", "artifacts_dir": "/srv/a"},
            {"model": "rf", "dataset": "iris"},
        ),
        (
            {"dataset": "/home/me/data/penguins.yaml", "seed": 3},
            {"dataset": "penguins.yaml", "seed": 3},
        ),
        ({"dataset": "contracts/wine.yml"}, {"dataset": "wine.yml"}),
        ({"storage": "postgresql://bob:***@db.internal/optuna", "study": "s"}, {"study": "s"}),
        ({}, {}),
    ],
)
def test_shown_params_leave_out_the_training_machines_paths(
    params: dict[str, Any], shown: dict[str, Any]
) -> None:
    assert _shown_params(params) == shown
