"""ASGI entry point: `uvicorn serve:app`. Configured by environment variables (README).

`--http serve:HttpProtocol` (in `make serve`, the Docker image and the documented command)
also bounds what the app never sees: the request head and idle connections.
"""

from __future__ import annotations

import logging
import os
import sys

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from petalflow.observability.logs import configure_logging
from petalflow.observability.metrics import supervisor_metrics_dir
from petalflow.serving.app import create_app
from petalflow.serving.protocol import bounded_protocol
from petalflow.serving.settings import Settings, get_settings

logger = logging.getLogger("petalflow.serve")


def _problem(error: ErrorDetails) -> str:
    """One refused setting: its variable (unless the message names it) and the rule."""
    message = error["msg"].removeprefix("Value error, ")
    variable = ".".join(map(str, error["loc"])).upper()
    return f"{variable}: {message}" if variable else message


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        configure_logging()
        problems = "; ".join(map(_problem, exc.errors(include_input=False)))
        logger.error("invalid configuration: %s", problems)
        raise SystemExit(2) from None
    if settings.prometheus_multiproc_dir is None:  # workers of one supervisor share metrics
        settings.prometheus_multiproc_dir = supervisor_metrics_dir()
    return settings


settings = _settings()
configure_logging(settings.log_level)
# The log is JSON lines: no MLflow progress bars in it (set the variable to have them).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# MLflow's HTTP client waits up to 120 s per request and retries 7 times: a tracking
# server that takes connections but never answers would hold start-up (and each alias
# check) for half an hour. These bound it to ~40 s (set the variables to change them).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
# A production server connects to its tracking store and nowhere else: MLflow's usage
# telemetry (on by default outside CI) stays off unless the variable says otherwise.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
app = create_app(settings)
HttpProtocol = bounded_protocol(settings)  # `--http serve:HttpProtocol`

if __name__ == "__main__":
    print("run the API with `make serve`, or the uvicorn command in README.md", file=sys.stderr)
    sys.exit(2)
