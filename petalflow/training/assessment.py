"""A recipe's pipeline fitted on the training rows and assessed once on the test split.

The assessment holds what the run and the artifacts derive from the fitted pipeline: its
answers and scores on the test split, the confusion counts, the model contract, and a
folder of plots and reports (``evaluation/`` and ``confusion_matrix.png``) to log. It
needs no MLflow, so tune's search process makes it while the MLflow process logs trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.pipeline import Pipeline

from petalflow.core.contract import ModelContract
from petalflow.training import data, diagnostics, figures
from petalflow.training import evaluation as metrics

CONFUSION_PNG = "confusion_matrix.png"


@dataclass(frozen=True)
class Assessment:
    """The fitted pipeline and what is derived from it."""

    pipeline: Pipeline
    answers: metrics.Predictions  # on the test split
    scores: dict[str, float]
    matrix: dict[str, Any]
    contract: ModelContract
    folder: Path  # the plots and reports, logged to the run as they are laid out here


def assess(pipeline: Pipeline, dataset: data.Dataset, seed: int, folder: Path) -> Assessment:
    """Fit ``pipeline`` (unfitted) on ``dataset``'s training rows, score it on the test
    split, and draw its plots and reports into ``folder`` (which must exist)."""
    split = dataset.split
    fitted = pipeline.fit(split.X_train, split.y_train)
    answers = metrics.predict(fitted, split.X_test)
    scores = metrics.scores(answers, split.y_test, dataset.positive_class)
    matrix = metrics.counts(answers, split.y_test)
    test = diagnostics.TestSplit(split.X_test, split.y_test, dataset.positive_class, seed)
    diagnostics.write_evaluation(fitted, test, folder / diagnostics.EVALUATION_DIR, answers.proba)
    figures.save_png(
        figures.confusion_figure(matrix["labels"], matrix["matrix"], normalized=False),
        folder / CONFUSION_PNG,
    )
    contract = data.model_contract(dataset, fitted.classes_)
    return Assessment(fitted, answers, scores, matrix, contract, folder)
