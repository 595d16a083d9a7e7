"""Property-based fuzzing of every operation of the OpenAPI schema (SPEC 3).

Every operation gets up to 200 generated requests, schema-valid and schema-invalid,
sent to the ASGI app in-process. Every response must be one the schema declares (no
5xx, a documented status code, content type and body), every schema-invalid request
must be rejected with a 4xx, and every schema-valid one accepted where the schema is
as strict as the server.

The schema is built at collection time from an app serving an in-memory Iris model (the
request schemas come from the served model's contract, known once it is loaded), so
that pytest gets one test per operation:
``schemathesis.pytest.from_fixture`` cannot be used, as schemathesis 4.32 sets
``Function._nodeid``, which pytest 9 no longer has. The requests go to ``served_app``,
an app built the same way whose lifespan schemathesis runs before the first request of
each test (the model is loaded) and ends with the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from petalflow.serving.app import create_app
from tests.conftest import make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Operations whose request schema is looser than the server, by design: the MLflow
# scoring payload is parsed by the protocol handler (the schema says "an object"), and
# a feedback label must be one of the served model's classes, unknown to the schema.
LOOSER_SCHEMA = {"POST /invocations", "POST /feedback"}
# MLflow's health routes answer as `mlflow models serve` does: "\n" and a bare version
# string, under application/json, which is not JSON; their bodies are compared with
# MLflow's own in tests/e2e/test_mlflow_compat.py. Here: no 5xx, a documented status.
MLFLOW_RAW_BODIES = {"GET /ping", "GET /version"}
# The operations SPEC 3 requires; any other operation (monitoring) is fuzzed too.
REQUIRED_OPERATIONS = {
    "GET /health",
    "POST /predict",
    "POST /predict/batch",
    "POST /invocations",
    "GET /model",
}
DOCS_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _openapi_of_an_iris_model() -> dict[str, Any]:
    """The OpenAPI document of an app serving a logreg fit here on Iris."""
    from fastapi.testclient import TestClient

    from petalflow.serving.loading import LoadedModel
    from petalflow.training.config import TrainConfig
    from petalflow.training.data import model_contract, prepare
    from petalflow.training.pipeline import build_pipeline

    dataset = prepare("iris", 0.2, 42)
    X, y = dataset.X, dataset.y
    config = TrainConfig(42, 0.2, "logreg", 1.0, 1000, 200, None, "a", "iris", None, None, "iris")
    pipeline = build_pipeline(config).fit(X, y)
    model = LoadedModel(
        pipeline=pipeline,
        model_version="in-memory",
        run_id=None,
        source="memory",
        sha256=None,
        contract=model_contract(dataset, pipeline.classes_),
    )
    with TestClient(create_app(make_settings(Path("unused")), model=model)) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


OPENAPI = _openapi_of_an_iris_model()
schema = schemathesis.openapi.from_dict(OPENAPI)


@pytest.fixture(scope="module")
def served_app(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app serving the session model, prediction log on, shared by every input."""
    log = tmp_path_factory.mktemp("fuzz") / "predictions.db"
    return create_app(make_settings(trained, prediction_log=str(log)))


def test_openapi_schema_is_the_served_one_and_declares_every_route(served_app: FastAPI) -> None:
    served = schemathesis.openapi.from_asgi("/openapi.json", served_app)
    assert served.raw_schema == OPENAPI
    operations = {result.ok().label for result in served.get_all_operations()}
    assert operations >= REQUIRED_OPERATIONS
    routes = {
        f"{method} {route.path}"
        for route in served_app.routes
        if route.path not in DOCS_ROUTES
        for method in getattr(route, "methods", set()) - {"HEAD"}
    }
    assert routes == operations


@schema.parametrize()
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_openapi_schema(case: schemathesis.Case, served_app: FastAPI) -> None:
    checks = list(CHECKS)
    if case.operation.label in MLFLOW_RAW_BODIES:
        checks = [not_a_server_error, status_code_conformance]
    elif case.operation.label not in LOOSER_SCHEMA:
        checks.append(positive_data_acceptance)
    case.call_and_validate(app=served_app, base_url="http://testserver", checks=checks)
