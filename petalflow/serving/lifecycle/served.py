"""The served model: everything that depends on the model, in one immutable object.

A request reads the data plane's ``ServedModel`` once, at its start, and uses only that
object: a reload that swaps in another one meanwhile never mixes two models in one
answer, and the request finishes on the model it started with.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client.registry import Collector

from petalflow.core.contract import FeatureSpec, ModelContract
from petalflow.core.errors import ModelLoadError
from petalflow.monitoring.checks import Monitor, MonitoringCollector
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.observability.metrics import CachedCollector
from petalflow.serving.loading import LoadedModel, Runner, in_process
from petalflow.serving.predictor import Predictor
from petalflow.serving.request_models import RequestModels, build_request_models
from petalflow.serving.settings import Settings

logger = logging.getLogger(__name__)

# Rows scored before a model is swapped in: enough to touch every code path (one row,
# a small batch) and to catch a model that cannot predict, few enough to cost ~ms.
_WARM_ROWS = 8


def identity_of(loaded: LoadedModel) -> dict[str, Any]:
    """Which model ``loaded`` is: version (run id), logged-model id, registry entry, source."""
    return {
        "model_version": loaded.model_version,
        "model_id": loaded.model_id,
        "registered_model": loaded.registered_model,
        "source": loaded.source,
    }


@dataclass(frozen=True, slots=True)
class ServedModel:
    """The model, its predictor, request models and monitor (``version`` and ``classes``
    copied out: they are read on every request)."""

    loaded: LoadedModel
    predictor: Predictor
    models: RequestModels
    monitor: Monitor
    collectors: tuple[Collector, ...]
    version: str
    classes: list[str]

    def identity(self) -> dict[str, Any]:
        """Which model this is: version (run id), logged-model id, registry entry, source."""
        return identity_of(self.loaded)

    def info_labels(self) -> dict[str, str]:
        """The labels of ``petalflow_model_info`` (empty where unknown)."""
        loaded = self.loaded
        registered = loaded.registered_model or {}
        return {
            "model_version": loaded.model_version,
            "model_id": loaded.model_id or "",
            "registered_model": str(registered.get("name") or ""),
            "registered_version": str(registered.get("version") or ""),
            "registered_alias": str(registered.get("alias") or ""),
            "source": loaded.source,
        }

    def summary(self) -> str:
        """One log line's worth: version, source, registry version, logged-model id."""
        loaded, extras = self.loaded, []
        if loaded.registered_model:
            registered = loaded.registered_model
            extras.append(f"{registered['name']} version {registered['version']}")
        if loaded.model_id:
            extras.append(f"logged model {loaded.model_id}")
        more = f" ({', '.join(extras)})" if extras else ""
        return f"model {loaded.model_version} from {loaded.source}{more}"


def prepare(
    loaded: LoadedModel,
    log: PredictionLog | None,
    settings: Settings,
    run: Runner = in_process,
    verify_later: bool = False,
) -> ServedModel:
    """The served model of ``loaded``: fast path verified (by ``run``; ``verify_later``:
    by the caller, who ``adopt``s it), request models built, warmed.

    Runs off the request path (start-up, or a reload's thread); ModelLoadError if the
    model cannot answer its warm-up rows with probabilities.
    """
    predictor = Predictor(loaded, settings.fast_path, run, verify_later)
    monitor = Monitor(loaded, log, settings)
    # Drift and accuracy gauges: computed at most every MONITORING_REFRESH_SECONDS.
    refresh = settings.monitoring_refresh_seconds
    collectors = () if log is None else (CachedCollector(MonitoringCollector(monitor), refresh),)
    served = ServedModel(
        loaded=loaded,
        predictor=predictor,
        models=build_request_models(loaded.contract),
        monitor=monitor,
        collectors=collectors,
        version=loaded.model_version,
        classes=predictor.classes,
    )
    warm(served)
    return served


def warm_rows(loaded: LoadedModel) -> np.ndarray:
    """The rows a model is warmed with: the first few of its contract's verification rows."""
    return np.array(loaded.contract.verification_rows[:_WARM_ROWS], dtype=np.float64)


def warm(served: ServedModel) -> None:
    """Score a few of the contract's verification rows, one by one and as a batch;
    ModelLoadError unless every answer is a probability per class summing to 1."""
    rows = warm_rows(served.loaded)
    if not len(rows):
        logger.info("model %s has no verification rows to warm up with", served.version)
        return
    try:
        answers = [served.predictor.predict(rows[:1]).proba, served.predictor.predict(rows).proba]
    except Exception as exc:
        raise ModelLoadError(
            f"model {served.version} cannot predict its own verification rows "
            f"({type(exc).__name__}: {exc}); retrain it"
        ) from exc
    for proba in answers:
        sums = proba.sum(axis=1) if proba.ndim == 2 else np.array([math.nan])
        if proba.shape[-1] != len(served.classes) or not np.allclose(sums, 1.0):
            raise ModelLoadError(
                f"model {served.version} answers its verification rows with "
                f"{proba.shape} probabilities for {len(served.classes)} classes, or ones "
                "that do not sum to 1; retrain it"
            )


def contract_change(previous: ModelContract, new: ModelContract) -> str | None:
    """What a client of ``previous`` would find changed in ``new`` (features, their order
    or rules, the target, the classes), for a reload's warning; None if nothing did."""
    changes = []
    before, after = [f.name for f in previous.features], [f.name for f in new.features]
    if removed := [n for n in before if n not in after]:
        changes.append(f"features removed: {', '.join(removed)}")
    if added := [n for n in after if n not in before]:
        changes.append(f"features added: {', '.join(added)}")
    if not removed and not added and before != after:
        changes.append("features reordered")
    rules = {f.name: _rules(f) for f in previous.features}
    if changed := [f.name for f in new.features if f.name in rules and rules[f.name] != _rules(f)]:
        changes.append(f"rules changed (type, bounds, categories, nulls): {', '.join(changed)}")
    if previous.target != new.target:
        changes.append(f"target {previous.target} -> {new.target}")
    if previous.classes != new.classes:
        changes.append(f"classes {previous.classes} -> {new.classes}")
    return "; ".join(changes) or None


def _rules(feature: FeatureSpec) -> FeatureSpec:
    return feature.model_copy(update={"description": None})
