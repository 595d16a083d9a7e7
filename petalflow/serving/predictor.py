"""The prediction step: the verified fast path when there is one, else the pipeline."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from petalflow.core.errors import ModelLoadError
from petalflow.serving.loading import LoadedModel
from petalflow.training.data import FEATURE_NAMES

if TYPE_CHECKING:
    from petalflow.serving.fastpath import FastPath

logger = logging.getLogger(__name__)


class Predictor:
    """Class probabilities for rows given in the model's feature order."""

    def __init__(self, model: LoadedModel, use_fast_path: bool = True) -> None:
        if tuple(model.feature_names) != FEATURE_NAMES:
            raise ModelLoadError(
                f"the model expects features {model.feature_names}, but this API serves "
                f"{list(FEATURE_NAMES)}; serve a model trained by petalflow's train.py"
            )
        self.model = model
        self.classes = list(model.class_names)
        self._class_array = np.array(self.classes, dtype=object)
        self.fast: FastPath | None = None
        if use_fast_path:
            from petalflow.serving.fastpath import build_verified_fast_path

            self.fast = build_verified_fast_path(model.pipeline, list(FEATURE_NAMES))
        logger.info("prediction path: %s", "numpy fast path" if self.fast else "scikit-learn")

    def proba(self, rows: np.ndarray) -> np.ndarray:
        """An (n, n_classes) array of probabilities."""
        if self.fast is not None:
            return np.asarray(self.fast.predict_proba(rows))
        return self.model.pipeline_proba(rows)

    def proba_one(self, row: list[float]) -> list[float]:
        """Probabilities of one row (the fast path's allocation-light single-row call)."""
        if self.fast is not None:
            return list(self.fast.predict_one(row))
        return list(self.model.pipeline_proba(np.asarray([row], dtype=np.float64))[0].tolist())

    def label_one(self, proba: list[float]) -> str:
        """The label of one row's probabilities (first class on ties, like argmax)."""
        return self.classes[max(range(len(proba)), key=proba.__getitem__)]

    def labels(self, proba: np.ndarray) -> list[str]:
        """Labels as the pipeline's predict gives them (first class on ties)."""
        labels: list[str] = self._class_array[np.argmax(proba, axis=1)].tolist()
        return labels
