"""The prediction step: the verified fast path when there is one, else the pipeline."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from petalflow.serving.loading import LoadedModel, Runner, in_process

if TYPE_CHECKING:
    from petalflow.serving.fastpath import FastPath

logger = logging.getLogger(__name__)


class Scores(NamedTuple):
    """The outcome of scoring n rows: labels, an (n, n_classes) probability array, and
    each label's position in the classes (integer codes: counted and logged without a
    lookup per row)."""

    labels: list[str]
    proba: np.ndarray
    codes: np.ndarray


class Predictor:
    """Labels and class probabilities for rows given in the contract's feature order.

    One batch-shaped call for every route; a single row is just a batch of one (the fast
    path special-cases it inside).
    """

    def __init__(
        self, model: LoadedModel, use_fast_path: bool = True, run: Runner = in_process
    ) -> None:
        """``run`` compiles and verifies the fast path (a reload: in a child process)."""
        self.model = model
        self.classes = model.class_names
        self._class_array = np.array(self.classes, dtype=object)
        self.fast: FastPath | None = None
        if use_fast_path:
            from petalflow.serving.fastpath import build_verified_fast_path

            build = functools.partial(build_verified_fast_path, model.pipeline, model.contract)
            self.fast = run(build)
        logger.info("prediction path: %s", "numpy fast path" if self.fast else "scikit-learn")

    def predict(self, rows: np.ndarray) -> Scores:
        """Labels (first class on ties, like the pipeline's predict) and probabilities."""
        if self.fast is not None:
            proba = self.fast.predict_proba(rows)
        else:
            proba = self.model.pipeline_proba(rows)
        # ndarray.argmax, not np.argmax: the function wrapper costs more than a row.
        codes = proba.argmax(axis=1)
        labels: list[str] = self._class_array[codes].tolist()
        return Scores(labels, proba, codes)
