"""The HTTP routes: thin calls into the data plane, and the OpenAPI description.

The JSON-body operations are answered by the middleware (``middleware.ENDPOINTS``);
their routes here carry the documentation (request schema from the served model's
contract, filled in when it is loaded) and make FastAPI answer other methods with 405.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from petalflow.observability.metrics import CONTENT_TYPE, Telemetry
from petalflow.serving import columnar_request
from petalflow.serving.handlers import DataPlane
from petalflow.serving.http_errors import ERROR_RESPONSES, MONITORING_RESPONSES
from petalflow.serving.lifecycle.follower import ModelFollower
from petalflow.serving.request_models import RequestModels, row_rules
from petalflow.serving.schemas import (
    DriftReport,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    InvocationsResponse,
    ModelResponse,
    PerformanceReport,
    PredictBatchColumnarResponse,
    PredictBatchResponse,
    PredictResponse,
    ReloadResponse,
    ShadowReport,
)

BatchResponse = PredictBatchResponse | PredictBatchColumnarResponse  # as the request's form


class Serving(Protocol):
    """What the lifespan loaded (the routes read it at request time)."""

    plane: DataPlane
    follower: ModelFollower


class RequestDocs:
    """The request bodies' OpenAPI descriptions, one ``openapi_extra`` dict per route.

    The routes hold these dicts; ``describe`` fills them from the served model's
    contract once the lifespan has loaded it (before the first request).
    """

    def __init__(self) -> None:
        self.extras: dict[str, dict[str, Any]] = {
            path: {} for path in ("/predict", "/predict/batch", "/invocations", "/feedback")
        }

    def describe(self, models: RequestModels) -> None:
        """Set each body's schema: the contract's row and batch models."""
        schemas = {
            "/predict": models.row.model_json_schema(),
            "/predict/batch": models.batch.model_json_schema(
                ref_template="#/components/schemas/{model}"
            ),  # and the columnar form, below
            "/invocations": {
                "type": "object",
                "description": "MLflow's scoring protocol: one of dataframe_split, "
                "dataframe_records, instances, inputs (columns that are no feature, and "
                "other top-level keys, are ignored, logged and counted)",
            },
            "/feedback": FeedbackRequest.model_json_schema(),
        }
        for path, schema in schemas.items():
            if "$defs" in schema:  # the batch's row model: inline it (one level deep)
                row = next(iter(schema.pop("$defs").values()))
                schema["properties"]["instances"]["items"] = row
            if path == "/predict/batch":
                schema = {"oneOf": [schema, columnar_request.json_schema(models)]}
            content: dict[str, Any] = {"application/json": {"schema": schema}}
            if path == "/invocations":  # MLflow's other media types; utf-8 only
                header = ", ".join(models.features)
                csv = {"type": "string", "description": f"a header row ({header}), then rows"}
                content["text/csv"] = {"schema": csv}
                parquet = {"type": "string", "format": "binary"}
                content["application/vnd.apache.parquet"] = {"schema": parquet}
            self.extras[path].update(requestBody={"required": True, "content": content})
        # The contract's rules in words (FastAPI merges openapi_extra over the description).
        self.extras["/predict"]["description"] = (
            f"{_DESCRIPTIONS['predict']} {row_rules(models.specs)}"
        )


_DESCRIPTIONS = {
    "predict": "Label, class probabilities, model version (the MLflow run id) and latency "
    "of one row.",  # then the served contract's rules (RequestDocs.describe)
    "predict_batch": "The same for each row of `instances`, in order, with one model "
    "version and latency (MAX_BATCH_ROWS rows at most). The columnar form (`columns`, "
    "then `data` rows of values) is answered in columns: `labels`, and `probabilities` "
    "rows in the order of `classes`; it is the cheaper form for large batches.",
    "invocations": "What `mlflow models serve` answers for the same payload "
    "(`dataframe_split`, `dataframe_records`, `instances` or `inputs` JSON, CSV or parquet), "
    "with MLflow's status codes and `error_code`; the README's compatibility table lists "
    "the deliberate differences.",
    "feedback": "Joins a true label to a logged prediction by its request id "
    "(`<request-id>:<index>` for a batch row); live accuracy is computed from these.",
}


_RELOAD = (
    "Re-resolves MODEL_URI's alias (models:/NAME@ALIAS), or re-reads ARTIFACTS_DIR's "
    "model_info.json, and loads, verifies and warms a new model before swapping it in; a "
    "refused candidate leaves the served model serving. Answers this worker's model only."
)


async def _answered_by_the_middleware() -> None:
    """Never called: ``RequestContextMiddleware`` answers POST on this path."""
    raise RuntimeError("POST bodies are answered by petalflow's ASGI middleware")


def _add_mlflow_health(app: FastAPI) -> None:
    """MLflow's health check and version, answered as `mlflow models serve` answers them
    (``"\\n"``, and the bare version, under application/json)."""
    mlflow_version = metadata.version("mlflow")

    @app.router.get("/ping", summary="Health check (MLflow's)")
    async def ping() -> Response:
        return Response("\n", media_type="application/json")

    @app.router.get("/version", summary="The MLflow version (MLflow's)")
    async def version() -> Response:
        return Response(mlflow_version, media_type="application/json")


def _add_admin(app: FastAPI, serving: Serving) -> None:
    """The operator's routes (``/admin/...``)."""
    router = app.router

    @router.post(
        "/admin/reload",
        response_model=ReloadResponse,
        summary="Check the model source now; switch if it names another model",
        description=_RELOAD,
    )
    async def admin_reload() -> dict[str, Any]:
        outcome = await run_in_threadpool(serving.follower.check, True)
        return {
            "switched": outcome.switched,
            "outcome": outcome.status,
            "detail": outcome.detail,
            **serving.plane.served.identity(),
        }


def _add_monitoring(app: FastAPI, serving: Serving) -> None:
    """The monitoring reports, computed from the prediction log in a worker thread."""
    router = app.router

    @router.get("/monitoring/drift", response_model=DriftReport, responses=MONITORING_RESPONSES)
    async def monitoring_drift() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(serving.plane.monitor.drift)
        return result

    @router.get(
        "/monitoring/performance",
        response_model=PerformanceReport,
        responses=MONITORING_RESPONSES,
    )
    async def monitoring_performance() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(serving.plane.monitor.performance)
        return result

    @router.get(
        "/monitoring/shadow",
        response_model=ShadowReport,
        responses={**MONITORING_RESPONSES, 404: ERROR_RESPONSES[404]},
        summary="The served model against the shadow model",
    )
    async def monitoring_shadow() -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(serving.plane.shadow_report)
        return result


def add_routes(app: FastAPI, serving: Serving, telemetry: Telemetry, docs: RequestDocs) -> None:
    """Every route of the API, on ``app``'s own router."""
    router = app.router
    documented = {
        "/predict": ("predict", "Predict one row", PredictResponse),
        "/predict/batch": ("predict_batch", "Predict a batch of rows", BatchResponse),
        "/invocations": ("invocations", "MLflow scoring protocol", InvocationsResponse),
        "/feedback": ("feedback", "Ground truth for a past prediction", FeedbackResponse),
    }
    for path, (name, summary, response) in documented.items():
        router.add_api_route(
            path,
            _answered_by_the_middleware,
            methods=["POST"],
            name=name,
            summary=summary,
            description=_DESCRIPTIONS[name],
            response_model=response,
            responses=ERROR_RESPONSES,
            openapi_extra=docs.extras[path],
        )

    @router.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    _add_mlflow_health(app)
    _add_admin(app, serving)

    @router.get("/model", response_model=ModelResponse)
    async def model_route() -> dict[str, Any]:
        return serving.plane.model_info()

    _add_monitoring(app, serving)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        text = await run_in_threadpool(telemetry.render, serving.plane.collectors)
        return Response(text, media_type=CONTENT_TYPE)
