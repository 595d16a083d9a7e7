"""The app factory: settings in, a FastAPI app out; the model is loaded in the lifespan."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from petalflow.core import store
from petalflow.core.errors import PetalflowError
from petalflow.monitoring.checks import open_log
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.observability.logs import write_deferred
from petalflow.observability.metrics import Telemetry
from petalflow.serving.api_keys import KeyGuard
from petalflow.serving.docs import add_docs, document_api_keys
from petalflow.serving.handlers import DataPlane
from petalflow.serving.http_errors import install_error_handlers
from petalflow.serving.lifecycle.follower import ModelFollower
from petalflow.serving.lifecycle.follower import stop as stop_following
from petalflow.serving.lifecycle.isolation import in_child
from petalflow.serving.lifecycle.served import ServedModel, contract_change, prepare
from petalflow.serving.lifecycle.sources import UriSource, source_of
from petalflow.serving.lifecycle.switching import QuickSwitching
from petalflow.serving.lifecycle.verifier import StartupVerifier
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

    __slots__ = ("follower", "plane")
    plane: DataPlane
    follower: ModelFollower

    @property
    def version(self) -> str:
        """The version served now (the access log's, for requests no model answered)."""
        return self.plane.served.version


def _start(
    settings: Settings, model: LoadedModel | None, telemetry: Telemetry
) -> tuple[ServedModel, PredictionLog | None, Shadow | None]:
    """Load and warm the model (its fast path is verified later: ``StartupVerifier``), the
    shadow, and open the log; one clear log line if that fails."""
    try:
        loaded = model or load_model(settings.model_uri, settings.artifacts_dir)
        log = open_log(settings, observer=telemetry)
        served = prepare(loaded, log, settings, verify_later=True)
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
    return served, log, shadow


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
    write_deferred(logger)  # the access lines of the last requests


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


async def _adopt(verifier: StartupVerifier) -> None:
    """The start-up fast path, verified once the server is up; the heap frozen again
    once it is adopted (its tables were made after the first freeze)."""
    if await verifier.verify():
        _freeze_heap()


def _key_guard(settings: Settings, telemetry: Telemetry) -> KeyGuard | None:
    """The API-key check of the middleware; None (no check at all) without keys."""
    if not settings.bearer_keys:
        return None
    return KeyGuard(settings.bearer_keys, settings.protect_predict, telemetry.count_auth_failure)


def _log_protection(guard: KeyGuard | None) -> None:
    if guard is None:
        logger.info("API keys: none set (API_KEYS, API_KEYS_FILE); every route is open")
    else:
        roots = ", ".join(f"{root}, {root}/*" for root in guard.roots)
        logger.info("API keys: %d; a key is needed on %s", guard.key_count, roots)


def _shadow_follower(
    settings: Settings, shadow: Shadow | None, telemetry: Telemetry, switching: QuickSwitching
) -> ModelFollower | None:
    """Follows SHADOW_MODEL_URI's alias as MODEL_URI's is followed (None without a shadow):
    a new challenger is loaded and verified in a thread, then scores from the next drain."""
    if shadow is None:
        return None

    def install(candidate: LoadedModel) -> None:
        shadow.swap(candidate, Predictor(candidate, settings.fast_path, in_child))

    source = UriSource(str(settings.shadow_model_uri), store.resolve_tracking_uri(), in_child)
    return ModelFollower(
        source,
        shadow.model,
        install,
        settings.reload_interval,
        on_failure=telemetry.reload_failures.inc,
        role="shadow model",
        switching=switching,
    )


def _assemble(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    settings: Settings,
    serving: _Serving,
    telemetry: Telemetry,
    docs: RequestDocs,
    guard: KeyGuard | None,
) -> FastAPI:
    """The FastAPI app: offline docs, error handlers, routes, key marks, the middleware."""
    # No docs_url/redoc_url: add_docs serves them offline. FastAPI's OpenTelemetry hooks
    # read the environment on every request; petalflow exports its own metrics.
    no_otel = TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    options = {"docs_url": None, "redoc_url": None, "telemetry": no_otel}
    app = FastAPI(title="petalflow", version="1", lifespan=lifespan, **options)  # type: ignore[arg-type]
    add_docs(app)
    app.router.redirect_slashes = False  # /predict/ is a clear 404, not an empty 307
    install_error_handlers(app)
    add_routes(app, serving, telemetry, docs)
    if guard is not None:
        document_api_keys(app, guard)
    app.add_middleware(
        RequestContextMiddleware,
        telemetry=telemetry,
        max_body_bytes=settings.max_body_bytes,
        serving=serving,
        body_timeout=settings.body_timeout_seconds,
        guard=guard,
    )
    return app


def _log_reload(served: ServedModel, previous: ServedModel, change: str | None) -> None:
    logger.info("reload: serving %s instead of model %s", served.summary(), previous.version)
    if change:
        logger.warning("reload: the API's contract changed (%s); see /model", change)


def create_app(settings: Settings, model: LoadedModel | None = None) -> FastAPI:
    """Build the API. The model is loaded once, in the lifespan, unless one is given."""
    telemetry = Telemetry(settings.prometheus_multiproc_dir)
    serving, docs = _Serving(), RequestDocs()
    guard = _key_guard(settings, telemetry)

    def install(candidate: LoadedModel, log: PredictionLog | None) -> None:
        """A reload's candidate: verified and warmed here (a thread), then swapped in."""
        served = prepare(candidate, log, settings, in_child)
        if serving.plane.shadow is not None:  # the shadow must still take its rows
            serving.plane.shadow.rebase(served.loaded.contract)
        # Before the swap: a reload refused here leaves the previous model served.
        change = contract_change(serving.plane.served.loaded.contract, served.loaded.contract)
        previous = serving.plane.swap(served)
        telemetry.show_model(served.info_labels(), previous.info_labels())
        docs.describe(served.models)
        app.openapi_schema = None  # FastAPI's cached schema described the previous model
        _log_reload(served, previous, change)
        _freeze_heap()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        served, log, shadow = _start(settings, model, telemetry)
        serving.plane = DataPlane(served, telemetry, settings, shadow)
        switching = QuickSwitching()  # one per server: both followers lower one interval
        serving.follower = ModelFollower(
            source_of(
                settings.model_uri, settings.artifacts_dir, store.resolve_tracking_uri(), in_child
            ),
            served.loaded,
            functools.partial(install, log=log),
            settings.reload_interval,
            on_failure=telemetry.reload_failures.inc,
            switching=switching,
        )
        docs.describe(served.models)
        telemetry.show_model(served.info_labels())
        logger.info("serving %s", served.summary())
        _log_protection(guard)
        writer = None if log is None else asyncio.create_task(log.write_from_loop())
        shadow_follower = _shadow_follower(settings, shadow, telemetry, switching)
        pollers = [serving.follower.start(), shadow_follower.start() if shadow_follower else None]
        verifier = StartupVerifier(
            served.predictor, switching, lambda p: serving.plane.served.predictor is p
        )
        verifying = asyncio.create_task(_adopt(verifier)) if settings.fast_path else None
        _freeze_heap()
        try:
            yield
        finally:
            verifier.stop()
            if verifying is not None:  # it may freeze the heap: before unfreezing
                await verifying
            gc.unfreeze()  # the app's objects may be collected again once it has stopped
            for poller in pollers:
                await stop_following(poller)
            await _stop(writer, log, shadow)

    app = _assemble(lifespan, settings, serving, telemetry, docs, guard)
    return app
