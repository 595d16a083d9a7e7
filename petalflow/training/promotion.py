"""Promote a challenger over the champion, or roll the champion back, by registry alias.

Both versions are scored on data neither trained on: the test split they share (same data
set, same rows, same seed and test size, or the comparison is refused), and the newest
labelled predictions of a prediction log when it holds at least ``MIN_FEEDBACK`` (both
models re-scored on their features), and, when the challenger shadowed the champion on
at least ``MIN_FEEDBACK`` of them, the answers both gave live (``shadow_evidence``). The
challenger wins when it is at least ``min_delta`` better on every one. The aliases move
(``champion`` to the winner, ``previous-champion`` to the version it replaced; for another
champion alias X, ``previous-X``) and the decision is written as tags on both versions.
"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from petalflow.core.codec import RowCodec
from petalflow.core.errors import PromotionError
from petalflow.training import cross_validation as cv
from petalflow.training import data
from petalflow.training.aliases import previous_alias, unknown_model, version_by_alias
from petalflow.training.shadow_evidence import shadow_evidence
from petalflow.training.shared_split import shared_test_split

logger = logging.getLogger(__name__)


MIN_FEEDBACK = 30  # labelled predictions needed to score on the prediction log
MAX_FEEDBACK = 5000  # the newest ones


@dataclass(frozen=True)
class Request:
    """What to compare: the registered model, its two aliases, the metric and margin."""

    model_name: str
    challenger: str = "challenger"
    champion: str = "champion"
    metric: str = "f1_macro"
    min_delta: float = 0.0
    prediction_log: Path | None = None


@dataclass
class Decision:
    """The outcome: who won, on which data, with which scores."""

    promoted: bool
    challenger: str  # version
    champion: str | None
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)

    def summary(self, request: Request) -> str:
        """One line for people."""
        shown = "; ".join(
            f"{name}: challenger {s['challenger']:.4f} vs {request.champion} {s['champion']:.4f}"
            for name, s in self.scores.items()
        )
        who = f"{request.model_name} version {self.challenger}"
        if self.champion is None:
            return f"promoted {who} to {request.champion}: there was no {request.champion}"
        verb = "promoted" if self.promoted else f"kept the {request.champion}; did not promote"
        return f"{verb} {who} ({request.metric}, min delta {request.min_delta:g}) {shown}"


def _warn_of_other_aliases(client: MlflowClient, request: Request) -> None:
    """A first champion alias on a model that has others may be a typo of one of them."""
    aliases = getattr(client.get_registered_model(request.model_name), "aliases", None) or {}
    mine = (request.challenger, previous_alias(request.champion))
    others = [f"{a} (version {v})" for a, v in aliases.items() if a not in mine]
    if others:
        logger.warning(
            "no version of %s has the alias %r, so the challenger becomes the first; the "
            "model's other aliases are %s: if --champion meant one of them, move them back",
            request.model_name,
            request.champion,
            ", ".join(others),
        )


def _load(name: str, version: ModelVersion, alias: str) -> Any:
    """The model of ``version``; PromotionError naming it when its files cannot be read."""
    try:
        return mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    except (MlflowException, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise PromotionError(
            f"cannot load {name} version {version.version} ({alias}): {first}; its model "
            f"files may be gone: register a new version and point {alias!r} at it"
        ) from exc


def _feedback(request: Request, dataset: data.Dataset, classes: list[str]) -> Any:
    """(X, y) of the newest labelled predictions of a model over ``classes`` and the
    data set's features, or None when there are too few."""
    if request.prediction_log is None:
        return None
    from petalflow.core.errors import PredictionLogError
    from petalflow.monitoring.prediction_log import PredictionLogReader

    try:
        with PredictionLogReader(request.prediction_log) as reader:
            rows, labels = reader.labelled_rows(MAX_FEEDBACK, classes)
    except PredictionLogError as exc:
        raise PromotionError(f"argument --prediction-log: {exc}") from exc
    width = len(dataset.features)
    if len(labels) < MIN_FEEDBACK or rows.shape[1] != width:
        logger.info(
            "prediction log: %d labelled rows of this model's features, %d needed",
            len(labels) if rows.shape[1] == width else 0,
            MIN_FEEDBACK,
        )
        return None
    codec = RowCodec(data.model_contract(dataset, classes))
    return codec.to_frame(rows), pd.Series(labels)


def _better(metric: cv.Metric, challenger: float, champion: float, min_delta: float) -> bool:
    gain = challenger - champion if metric.maximize else champion - challenger
    return gain >= min_delta


def _evaluate(
    request: Request, dataset: data.Dataset, challenger: Any, champion: Any
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Both models' scores on every available evaluation, and what data each used."""
    metric = cv.METRICS[request.metric]
    split = dataset.split
    evaluations = {"test_split": (split.X_test, split.y_test)}
    described = [
        f"test split of {dataset.name}: {len(split.y_test)} rows neither version trained on"
    ]
    feedback = _feedback(request, dataset, [str(c) for c in challenger.classes_])
    if feedback is not None:
        evaluations["feedback"] = feedback
        described.append(f"{len(feedback[1])} labelled predictions of {request.prediction_log}")
    scores = {}
    for name, (X, y) in evaluations.items():
        ours = cv.score(metric, challenger, X, y, dataset.positive_class)
        theirs = cv.score(metric, champion, X, y, dataset.positive_class)
        won = _better(metric, ours, theirs, request.min_delta)
        scores[name] = {"challenger": ours, "champion": theirs, "challenger_better": won}
    return scores, described


def _add_shadow_evidence(
    request: Request,
    champion: ModelVersion,
    challenger: ModelVersion,
    scores: dict[str, dict[str, Any]],
    described: list[str],
) -> None:
    """The ``shadow`` evaluation, when the prediction log holds enough of it."""
    if request.prediction_log is None:
        return
    metric = cv.METRICS[request.metric]
    runs = str(champion.run_id), str(challenger.run_id)
    found = shadow_evidence(request.prediction_log, metric, *runs, MIN_FEEDBACK, MAX_FEEDBACK)
    if found is None:
        return
    won = _better(metric, found.challenger, found.champion, request.min_delta)
    scores["shadow"] = {
        "challenger": found.challenger,
        "champion": found.champion,
        "challenger_better": won,
    }
    described.append(
        f"{found.n_labelled} labelled predictions of {request.prediction_log} answered live "
        f"by the champion (version {champion.version}) with the challenger (version "
        f"{challenger.version}) as its shadow"
    )


def decide(client: MlflowClient, request: Request) -> Decision:
    """Compare, move the aliases and record the decision; PromotionError when it cannot."""
    shown = shlex.quote(request.model_name), shlex.quote(request.challenger)
    hint = f"register one with --register-model {shown[0]} --alias {shown[1]}"
    challenger = version_by_alias(client, request.model_name, request.challenger, hint)
    if challenger is None:
        missing = unknown_model(client, request.model_name) or (
            f"no version of {request.model_name!r} has the alias {request.challenger!r}"
        )
        raise PromotionError(f"{missing}; {hint}")
    champion = version_by_alias(client, request.model_name, request.champion, hint)
    if champion is None:
        _warn_of_other_aliases(client, request)
        decision = Decision(True, str(challenger.version), None)
        decision.data.append(f"no {request.champion} yet: nothing to compare with")
    elif champion.version == challenger.version:
        raise PromotionError(
            f"{request.challenger!r} and {request.champion!r} are the same version "
            f"({challenger.version}); register a new challenger first"
        )
    else:
        dataset = shared_test_split(client, challenger, champion)
        scores, described = _evaluate(
            request,
            dataset,
            _load(request.model_name, challenger, request.challenger),
            _load(request.model_name, champion, request.champion),
        )
        _add_shadow_evidence(request, champion, challenger, scores, described)
        promoted = all(s["challenger_better"] for s in scores.values())
        decision = Decision(promoted, str(challenger.version), str(champion.version))
        decision.scores, decision.data = scores, described
    _record(client, request, decision)
    return decision


def _record(client: MlflowClient, request: Request, decision: Decision) -> None:
    """Move the aliases (when promoted) and tag both versions with the decision."""
    name = request.model_name
    if decision.promoted:
        if decision.champion is not None:
            client.set_registered_model_alias(
                name, previous_alias(request.champion), decision.champion
            )
        client.set_registered_model_alias(name, request.champion, decision.challenger)
    common = {
        "promotion.decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "promotion.metric": request.metric,
        "promotion.min_delta": str(request.min_delta),
        "promotion.scores": json.dumps(decision.scores, sort_keys=True),
        "promotion.data": "; ".join(decision.data),
        "promotion.winner": decision.challenger if decision.promoted else str(decision.champion),
    }
    verdicts = {decision.challenger: "promoted" if decision.promoted else "rejected"}
    if decision.champion is not None:
        verdicts[decision.champion] = "replaced" if decision.promoted else "kept"
    for version, verdict in verdicts.items():
        other = decision.champion if version == decision.challenger else decision.challenger
        compared = "none" if other is None else str(other)  # as MLflow params spell unset
        tags = {**common, "promotion.decision": verdict, "promotion.compared_with": compared}
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)


def rollback(
    client: MlflowClient,
    model_name: str,
    champion: str = "champion",
    challenger: str = "challenger",
) -> tuple[str, str]:
    """Point ``champion`` at ``previous-<champion>`` (then unset); (restored, demoted)
    versions. ``challenger`` is unset too if it names the demoted version, so that the next
    promote does not release it again.

    PromotionError when there is no previous champion."""
    hint = "nothing to roll back to; a promotion sets it"
    earlier = previous_alias(champion)
    previous = version_by_alias(client, model_name, earlier, hint)
    current = version_by_alias(client, model_name, champion, hint)
    if previous is None:
        missing = unknown_model(client, model_name) or f"{model_name!r} has no {earlier!r} alias"
        raise PromotionError(f"{missing}: {hint}")
    pending = version_by_alias(client, model_name, challenger, "nothing was moved; retry")
    demoted = str(current.version) if current is not None else "none"
    restored = str(previous.version)
    client.set_registered_model_alias(model_name, champion, restored)
    client.delete_registered_model_alias(model_name, earlier)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(model_name, restored, "rollback.restored_at", now)
    client.set_model_version_tag(model_name, restored, "rollback.replaced", demoted)
    if current is not None:
        client.set_model_version_tag(model_name, demoted, "rollback.rolled_back_at", now)
        client.set_model_version_tag(model_name, demoted, "rollback.restored", restored)
        if pending is not None and str(pending.version) == demoted:
            client.delete_registered_model_alias(model_name, challenger)
            client.set_model_version_tag(model_name, demoted, "rollback.unset_alias", challenger)
    return restored, demoted
