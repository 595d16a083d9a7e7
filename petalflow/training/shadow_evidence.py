"""Promotion evidence from a shadow: the labelled rows of the prediction log that the
champion answered while the challenger shadowed it (SHADOW_MODEL_URI).

The versions must match: the primary's logged version is the champion's run, the
shadow's the challenger's run. Both models are scored on the answers they actually gave
live (no re-scoring), when at least ``MIN_FEEDBACK`` such rows are labelled; a metric of
probabilities (roc_auc_ovr, log_loss) has no evidence here, the answers being labels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np

from petalflow.core.errors import PredictionLogError, PromotionError
from petalflow.monitoring.prediction_log import PredictionLogReader
from petalflow.training import cross_validation as cv

logger = logging.getLogger(__name__)


class ShadowEvidence(NamedTuple):
    """Both versions' score on the labelled rows they answered live, and how many."""

    challenger: float
    champion: float
    n_labelled: int


def shadow_evidence(
    path: Path,
    metric: cv.Metric,
    champion_run: str,
    challenger_run: str,
    min_rows: int,
    max_rows: int,
) -> ShadowEvidence | None:
    """The evidence of ``path`` for challenger vs champion, or None (logged why) when the
    log holds fewer than ``min_rows`` labelled rows of this pair or the metric needs
    probabilities."""
    if metric.uses_proba:
        logger.info(
            "prediction log: the shadow comparison has labels, %s needs probabilities", metric.name
        )
        return None
    try:
        with PredictionLogReader(path) as reader:
            rows = reader.shadow_labelled(max_rows, champion_run, challenger_run)
            pairs = reader.shadow_version_pairs() if len(rows) < min_rows else []
    except PredictionLogError as exc:
        raise PromotionError(f"argument --prediction-log: {exc}") from exc
    if len(rows) < min_rows:
        seen = ", ".join(f"{p} shadowed by {s} ({n} requests)" for p, s, n in pairs[:3])
        logger.info(
            "prediction log: %d labelled rows the challenger (run %s) shadowed the champion "
            "(run %s) on, %d needed for shadow evidence; the log holds %s",
            len(rows),
            challenger_run,
            champion_run,
            min_rows,
            seen or "no shadow answers",
        )
        return None
    truth = [row.true_label for row in rows]
    # The labels present, as /monitoring/shadow counts them.
    labels = sorted({*truth, *(r.primary for r in rows), *(r.shadow for r in rows)})
    challenger = metric.compute(truth, np.array([r.shadow for r in rows]), labels, None)
    champion = metric.compute(truth, np.array([r.primary for r in rows]), labels, None)
    return ShadowEvidence(challenger, champion, len(rows))
