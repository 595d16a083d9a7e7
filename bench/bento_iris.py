"""The BentoML peer of `make bench`: the Iris model as a BentoML 1.4 service.

Run by bench/peers.py in the BentoML venv (``bentoml serve bench.bento_iris:IrisClassifier``);
it imports only what that venv has (bentoml, scikit-learn, numpy, pydantic), never petalflow.
The model is the same ``model.joblib`` petalflow serves (``BENCH_MODEL_PATH``). The bodies
match petalflow's: ``POST /predict`` takes one flower's four fields, ``POST /predict_batch``
takes ``{"instances": [...]}``; both return the label and every class's probability.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import joblib
import numpy as np
from pydantic import BaseModel

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class Flower(BaseModel):
    """One row of the batch."""

    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


@bentoml.service(workers=1)
class IrisClassifier:
    """The joblib pipeline behind two JSON APIs; one worker, as every server of the bench."""

    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL_PATH"])
        self.classes = [str(c) for c in self.model.classes_]

    def _outcomes(self, rows: np.ndarray) -> list[dict[str, Any]]:
        # The label is the most probable class: one model call instead of predict +
        # predict_proba (scikit-learn's predict takes the same argmax for these models).
        proba = self.model.predict_proba(rows)
        labels = proba.argmax(axis=1)
        return [
            {
                "predicted_label": self.classes[label],
                "class_probabilities": dict(zip(self.classes, row.tolist(), strict=True)),
            }
            for label, row in zip(labels, proba, strict=True)
        ]

    @bentoml.api
    def predict(
        self, sepal_length: float, sepal_width: float, petal_length: float, petal_width: float
    ) -> dict[str, Any]:
        row = np.array([[sepal_length, sepal_width, petal_length, petal_width]])
        return self._outcomes(row)[0]

    @bentoml.api
    def predict_batch(self, instances: list[Flower]) -> list[dict[str, Any]]:
        rows = np.array([[getattr(f, name) for name in FEATURES] for f in instances])
        return self._outcomes(rows)
