"""Shadow scoring: a second model answers sampled requests off the request path.

After the served (primary) model has answered and its request is queued for the log,
``Shadow.offer`` appends the request's encoded rows to a bounded deque: O(1), never
blocking; a full queue drops the request and counts it. A background thread drains the
queue every ``interval`` seconds and scores everything queued in one predict call (rows
stacked: vectorised, so the cost per row is a fraction of a single-row call), then
queues each request's answer for the prediction log's writer, keyed by its request id.
Clients never see the shadow; a shadow that raises fails none of their requests: the
failure is logged once per episode and counted (``petalflow_shadow_failures_total``),
and scoring goes on with the next drain. A batch that raises fails as a whole.

``swap`` replaces the shadow model (a new registry version) atomically: a drain scores
and logs a batch with the one model it read at its start. A shadow model that cannot be
loaded or used at start-up (its alias removed by a rollback, its registry down, other
features) leaves a Shadow without a model: nothing is queued until ``swap`` gives it one,
and the server starts (a worker respawned after a rollback must not stop the service).
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from petalflow.core.contract import ModelContract
from petalflow.core.errors import PetalflowError, ShadowError
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.observability.metrics import Telemetry
from petalflow.serving.loading import LoadedModel, load_from_uri
from petalflow.serving.predictor import Predictor
from petalflow.serving.registry import RegistryRef
from petalflow.serving.settings import Settings

logger = logging.getLogger(__name__)

MAX_PENDING = 10_000  # requests waiting for the shadow; more are dropped and counted
BATCH_ROWS = 20_000  # rows per predict call at most (one call per drain below that)
INTERVAL = 0.05  # seconds between drains


class ShadowModel(NamedTuple):
    """The shadow model and its predictor: replaced together, as one reference."""

    loaded: LoadedModel
    predictor: Predictor


def contract_difference(primary: ModelContract, shadow: ModelContract) -> str | None:
    """How the shadow's features differ from the primary's (names, order, types,
    categories), or None when the shadow can score the primary's encoded rows."""
    ours, theirs = primary.features, shadow.features
    if [f.name for f in ours] != [f.name for f in theirs]:
        return (
            f"the served model's features are {[f.name for f in ours]}, the shadow's "
            f"{[f.name for f in theirs]} (the same names in the same order are needed)"
        )
    for a, b in zip(ours, theirs, strict=True):
        if a.type != b.type:
            return f"feature {a.name!r} is {a.type} in the served model but {b.type} in the shadow"
        if a.categories != b.categories:
            return (
                f"feature {a.name!r} has categories {a.categories} in the served model but "
                f"{b.categories} in the shadow (rows carry a category's index)"
            )
    return None


class Shadow:
    """Scores sampled requests with a second model in a background thread; see the module.

    ``start()`` starts the thread, ``close()`` scores what is queued and stops it.
    """

    def __init__(
        self,
        model: ShadowModel | None,
        primary: ModelContract,
        log: PredictionLog,
        telemetry: Telemetry,
        sample: float = 1.0,
        *,
        max_pending: int = MAX_PENDING,
        batch_rows: int = BATCH_ROWS,
        interval: float = INTERVAL,
        rng: random.Random | None = None,
    ) -> None:
        self._primary, self._log, self._telemetry = primary, log, telemetry
        self._current = None if model is None else self._checked(model)
        self.sample, self.max_pending = sample, max_pending
        self.batch_rows, self.interval = batch_rows, interval
        self._random: Callable[[], float] = (rng or random.Random()).random
        # A deque: append and popleft are atomic C calls, no lock on the request path.
        self._pending: deque[tuple[str, np.ndarray]] = deque()
        self._draining = threading.Lock()  # one drain at a time: the thread or a report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failing = False  # in a failure episode: logged once, until a drain succeeds
        self.failed_requests = 0  # of the current episode

    @property
    def model(self) -> LoadedModel | None:
        """The shadow model being used now (None: none could be loaded yet)."""
        return None if self._current is None else self._current.loaded

    def _checked(self, model: ShadowModel) -> ShadowModel:
        problem = contract_difference(self._primary, model.loaded.contract)
        if problem is not None:
            raise ShadowError(
                f"the shadow model {model.loaded.source} cannot shadow the served model: "
                f"{problem}; set SHADOW_MODEL_URI to a model trained on the same features"
            )
        return model

    def swap(self, loaded: LoadedModel, predictor: Predictor) -> None:
        """Use ``loaded`` (scored by ``predictor``) from the next batch on; thread-safe.
        ShadowError (and the old shadow kept) if it cannot take the served model's rows."""
        self._current = self._checked(ShadowModel(loaded, predictor))
        logger.info("the shadow model is now %s from %s", loaded.model_version, loaded.source)

    def rebase(self, primary: ModelContract) -> None:
        """Shadow a new served model (a reload) from now on; ShadowError, and the reload
        refused, if the shadow cannot take that model's rows."""
        current = self._current
        problem = None if current is None else contract_difference(primary, current.loaded.contract)
        if current is not None and problem is not None:
            raise ShadowError(
                f"the new model cannot be served beside the shadow model "
                f"{current.loaded.source}: {problem}; to serve it, restart the server with "
                "SHADOW_MODEL_URI at a model on its features, or without SHADOW_MODEL_URI"
            )
        self._primary = primary

    def offer(self, request_id: str, rows: np.ndarray) -> None:
        """Queue a sampled answered request's encoded rows for the shadow: O(1)."""
        if self._current is None or (self.sample < 1.0 and self._random() >= self.sample):
            return
        if len(self._pending) < self.max_pending:
            self._pending.append((request_id, rows))
        else:
            self._telemetry.shadow_dropped.inc()

    def drain(self) -> int:
        """Score everything queued now (in this thread, after a drain under way finishes),
        ``batch_rows`` rows per predict call; the requests scored and logged."""
        with self._draining:
            return self._drain()

    def _drain(self) -> int:
        done = 0
        while self._pending:
            batch: list[tuple[str, np.ndarray]] = []
            rows = 0
            while self._pending and rows < self.batch_rows:
                batch.append(self._pending.popleft())
                rows += len(batch[-1][1])
            done += self._score(batch)
        return done

    def _score(self, batch: list[tuple[str, np.ndarray]]) -> int:
        """One predict call for ``batch``; each request's answer queued for the log."""
        current = self._current  # one model for the whole batch, whatever swap does
        if current is None:  # queued by none but a test: nothing to score with
            return 0
        rows = batch[0][1] if len(batch) == 1 else np.concatenate([r for _, r in batch])
        try:
            labels, proba, _ = current.predictor.predict(rows)
        except Exception as exc:
            self._failed(current.loaded, exc, len(batch))
            return 0
        if self.failing:
            logger.info(
                "the shadow model %s scores again, after %d failed requests",
                current.loaded.model_version,
                self.failed_requests,
            )
            self.failing, self.failed_requests = False, 0
        version, classes = current.loaded.model_version, current.predictor.classes
        start, logged = 0, 0
        for request_id, request_rows in batch:
            end = start + len(request_rows)
            if self._log.record_shadow(
                request_id, version, labels[start:end], classes, proba[start:end]
            ):
                logged += 1
            start = end
        if logged < len(batch):
            self._telemetry.shadow_dropped.inc(len(batch) - logged)
        return logged

    def _failed(self, model: LoadedModel, exc: Exception, requests: int) -> None:
        """Count the requests; log the first failure of an episode (the rest at debug)."""
        self._telemetry.shadow_failures.inc(requests)
        self.failed_requests += requests
        if self.failing:
            logger.debug("the shadow model failed again: %s: %s", type(exc).__name__, exc)
            return
        self.failing = True
        logger.error(
            "the shadow model %s failed to score %d requests (%s: %s); clients are answered "
            "by the served model as always; counted in petalflow_shadow_failures_total, "
            "logged again when it recovers",
            model.model_version,
            requests,
            type(exc).__name__,
            exc,
        )
        logger.debug("the shadow model's failure", exc_info=exc)

    def start(self) -> None:
        """Start the background thread."""
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None = 10.0) -> None:
        """Score what is queued, then stop the thread (before the log closes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain_safely()
        self._drain_safely()  # what was queued before close

    def _drain_safely(self) -> None:
        try:
            self.drain()
        except Exception:  # the thread must go on: a bug here never stops shadow scoring
            logger.exception("shadow scoring failed")


def open_shadow(
    settings: Settings, primary: ModelContract, log: PredictionLog | None, telemetry: Telemetry
) -> Shadow:
    """The shadow of SHADOW_MODEL_URI, loaded and checked against the primary's contract,
    not started; ShadowError without the prediction log. A model that cannot be loaded or
    used is logged (ERROR) and leaves the shadow without one, to be followed later."""
    if log is None:
        raise ShadowError(
            "SHADOW_MODEL_URI needs the prediction log, where the shadow's answers are "
            "compared: set PREDICTION_LOG to a SQLite path, or unset SHADOW_MODEL_URI"
        )
    telemetry.shadow_enabled = True
    uri = str(settings.shadow_model_uri)
    try:
        loaded = load_from_uri(uri)
        model = ShadowModel(loaded, Predictor(loaded, use_fast_path=settings.fast_path))
        shadow = Shadow(model, primary, log, telemetry, settings.shadow_sample)
    except Exception as exc:  # the loader's many errors: the shadow must not stop the server
        logger.debug("the shadow model could not be used", exc_info=True)
        ref = RegistryRef.parse(uri)
        later = (
            f"it is checked again every {settings.reload_interval:g} s (a version that "
            "fails again, every 2 minutes)"
            if ref is not None and ref.follows_alias and settings.reload_interval > 0
            else "restart the server once it can be loaded"
        )
        reason = exc if isinstance(exc, PetalflowError) else f"{type(exc).__name__}: {exc}"
        logger.error("serving without a shadow: %s cannot be used (%s); %s", uri, reason, later)
        return Shadow(None, primary, log, telemetry, settings.shadow_sample)
    share = (
        "every request"
        if settings.shadow_sample == 1
        else f"{settings.shadow_sample:g} of the requests"
    )
    logger.info("shadow model %s from %s scores %s", loaded.model_version, loaded.source, share)
    return shadow
