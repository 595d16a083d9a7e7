"""A recipe's pipeline fitted on the training rows and assessed once on the test split.

The assessment holds what the run and the artifacts derive from the fitted pipeline: its
answers and scores on the test split, the confusion counts, the model contract, and a
folder with ``model.joblib`` and the plots and reports to log (``evaluation/`` and
``confusion_matrix.png``). It needs no MLflow, so tune's search process makes it while the
MLflow process logs trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
from sklearn.pipeline import Pipeline

from petalflow.core import artifacts
from petalflow.core.contract import ModelContract
from petalflow.training import data, diagnostics, figures
from petalflow.training import evaluation as metrics

CONFUSION_PNG = "confusion_matrix.png"
LOGGED_DIR = "logged"


@dataclass(frozen=True)
class Assessment:
    """The fitted pipeline and what is derived from it."""

    pipeline: Pipeline
    answers: metrics.Predictions  # on the test split
    scores: dict[str, float]
    matrix: dict[str, Any]
    contract: ModelContract
    folder: Path

    @property
    def model_file(self) -> Path:
        """The fitted pipeline, dumped by joblib in the process that fitted it: a copy
        sent through a pipe pickles to other bytes (each array's dtype its own object)."""
        return self.folder / artifacts.MODEL_FILE

    @property
    def logged(self) -> Path:
        """The plots and reports, logged to the run as they are laid out here."""
        return self.folder / LOGGED_DIR


def assess(pipeline: Pipeline, dataset: data.Dataset, seed: int, folder: Path) -> Assessment:
    """Fit ``pipeline`` (unfitted) on ``dataset``'s training rows, score it on the test
    split, and write it and its plots and reports into ``folder`` (which must exist)."""
    split = dataset.split
    fitted = pipeline.fit(split.X_train, split.y_train)
    answers = metrics.predict(fitted, split.X_test)
    scores = metrics.scores(answers, split.y_test, dataset.positive_class)
    matrix = metrics.counts(answers, split.y_test)
    contract = data.model_contract(dataset, fitted.classes_)
    made = Assessment(fitted, answers, scores, matrix, contract, folder)
    joblib.dump(fitted, made.model_file)
    test = diagnostics.TestSplit(split.X_test, split.y_test, dataset.positive_class, seed)
    diagnostics.write_evaluation(
        fitted, test, made.logged / diagnostics.EVALUATION_DIR, answers.proba
    )
    figures.save_png(
        figures.confusion_figure(matrix["labels"], matrix["matrix"], normalized=False),
        made.logged / CONFUSION_PNG,
    )
    return made
