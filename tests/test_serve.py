"""serve.py, the ASGI entry point: the MLflow settings it defaults, and only when unset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, python_env

DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
}
SHOW = "import json, os, serve; print(json.dumps({k: os.environ.get(k) for k in %r}))"


@pytest.mark.parametrize("given", [{}, {"MLFLOW_DISABLE_TELEMETRY": "false"}])
def test_serve_defaults_mlflow_settings_it_was_not_given(
    given: dict[str, str], trained: Path, tmp_path: Path
) -> None:
    env = python_env(
        ARTIFACTS_DIR=str(trained),
        PREDICTION_LOG=str(tmp_path / "predictions.db"),
        **{key: None for key in DEFAULTS},
    )
    env.update(given)
    shown = subprocess.run(
        [sys.executable, "-c", SHOW % sorted(DEFAULTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(shown.stdout.splitlines()[-1]) == {**DEFAULTS, **given}
