"""The app factory: settings in, a FastAPI app out; the model is loaded in the lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from petalflow.core.errors import PetalflowError
from petalflow.monitoring.checks import Monitor, open_log
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.observability.metrics import Telemetry
from petalflow.serving.docs import add_docs
from petalflow.serving.handlers import DataPlane
from petalflow.serving.http_errors import install_error_handlers
from petalflow.serving.loading import LoadedModel, load_model
from petalflow.serving.middleware import RequestContextMiddleware
from petalflow.serving.predictor import Predictor
from petalflow.serving.routes import RequestDocs, add_routes
from petalflow.serving.settings import Settings
from petalflow.serving.shadow import Shadow, open_shadow

logger = logging.getLogger(__name__)


class _Serving:
    """What the lifespan loaded. Not on ``app.state``: Starlette's State answers through
    ``__getattr__``, about a microsecond per lookup on the /predict hot path."""

    __slots__ = ("plane",)
    plane: DataPlane


def _start(
    settings: Settings, model: LoadedModel | None, telemetry: Telemetry
) -> tuple[LoadedModel, Predictor, PredictionLog | None, Shadow | None]:
    """Load and verify the model (and the shadow) and open the log; one clear log line
    if that fails."""
    try:
        loaded = model or load_model(settings.model_uri, settings.artifacts_dir)
        predictor = Predictor(loaded, use_fast_path=settings.fast_path)
        log = open_log(settings, observer=telemetry)
        shadow = None
        if settings.shadow_model_uri:
            shadow = open_shadow(settings, loaded.contract, log, telemetry)
        if log is not None:
            log.start()
            telemetry.log_enabled = True
            telemetry.log_up(True)
        if shadow is not None:
            shadow.start()
    except Exception as exc:
        logger.debug("start-up failed", exc_info=True)
        known = isinstance(exc, (PetalflowError, OSError, sqlite3.Error))
        logger.error("cannot start: %s", exc if known else f"{type(exc).__name__}: {exc}")
        raise
    return loaded, predictor, log, shadow


async def _stop(
    writer: asyncio.Task[None] | None, log: PredictionLog | None, shadow: Shadow | None
) -> None:
    if shadow is not None:  # its last answers go to the log before that closes
        shadow.close()
    if writer is not None:
        writer.cancel()
        try:
            await writer
        except asyncio.CancelledError:
            pass
        except Exception:  # the thread has written what the loop did not
            logger.exception("the prediction log's event-loop writer failed")
    if log is not None:
        log.close()


def _freeze_heap() -> None:
    """Move everything start-up allocated (MLflow, sklearn, the model) out of the GC's view.

    Queued predictions survive into generation 2 and trigger full collections, which would
    otherwise walk the whole heap: 110-160 ms stalls every few seconds under load.
    """
    # Only the young generations: a full collection here takes ~200 ms of the cold start
    # and finds next to nothing (60 objects in 240,000), which would then stay frozen.
    gc.collect(1)
    gc.freeze()
    logger.debug("froze %d start-up objects out of garbage collection", gc.get_freeze_count())


def create_app(settings: Settings, model: LoadedModel | None = None) -> FastAPI:
    """Build the API. The model is loaded once, in the lifespan, unless one is given."""
    telemetry = Telemetry(settings.prometheus_multiproc_dir)
    serving, docs = _Serving(), RequestDocs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded, predictor, log, shadow = _start(settings, model, telemetry)
        monitor = Monitor(loaded, log, settings)
        serving.plane = DataPlane(predictor, monitor, telemetry, settings, shadow)
        docs.describe(serving.plane.models)
        app.state.model_version = loaded.model_version  # for the access log (middleware)
        telemetry.model_info.labels(loaded.model_version, loaded.source).set(1)
        logger.info("serving model %s from %s", loaded.model_version, loaded.source)
        writer = None if log is None else asyncio.create_task(log.write_from_loop())
        _freeze_heap()
        try:
            yield
        finally:
            gc.unfreeze()  # the app's objects may be collected again once it has stopped
            await _stop(writer, log, shadow)

    # No docs_url/redoc_url: add_docs serves them offline. FastAPI's OpenTelemetry hooks
    # read the environment on every request; petalflow exports its own metrics.
    no_otel = TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    options = {"docs_url": None, "redoc_url": None, "telemetry": no_otel}
    app = FastAPI(title="petalflow", version="1", lifespan=lifespan, **options)  # type: ignore[arg-type]
    add_docs(app)
    app.router.redirect_slashes = False  # /predict/ is a clear 404, not an empty 307
    install_error_handlers(app)
    add_routes(app, serving, telemetry, docs)
    limit = settings.max_body_bytes
    app.add_middleware(
        RequestContextMiddleware,
        telemetry=telemetry,
        max_body_bytes=limit,
        serving=serving,
        body_timeout=settings.body_timeout_seconds,
    )
    return app
