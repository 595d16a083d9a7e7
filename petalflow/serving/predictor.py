"""The prediction step: the verified fast path when there is one, else the pipeline."""

from __future__ import annotations

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
        self,
        model: LoadedModel,
        use_fast_path: bool = True,
        run: Runner = in_process,
        verify_later: bool = False,
    ) -> None:
        """``run`` compiles and verifies the fast path (a reload: in a child process);
        ``verify_later``: not now, the caller ``adopt``s it once verified (start-up)."""
        self.model = model
        self.classes = model.class_names
        self._class_array = np.array(self.classes, dtype=object)
        self.fast: FastPath | None = None
        if use_fast_path and not verify_later:
            self.fast = run(self.verified_fast_path)
        path = "numpy fast path" if self.fast else "scikit-learn"
        later = " until the fast path is verified" if use_fast_path and verify_later else ""
        logger.info("prediction path of model %s: %s%s", model.model_version, path, later)

    def verified_fast_path(self) -> FastPath | None:
        """The model's fast path, compiled and verified; None if it has none (or it
        failed verification: scikit-learn answers)."""
        from petalflow.serving.fastpath import build_verified_fast_path

        return build_verified_fast_path(self.model.pipeline, self.model.contract)

    def adopt(self, fast: FastPath | None) -> None:
        """Answer with ``fast`` from the next call on (None changes nothing)."""
        if fast is not None:
            self.fast = fast
            logger.info("prediction path of model %s: numpy fast path", self.model.model_version)

    def predict(self, rows: np.ndarray) -> Scores:
        """Labels (first class on ties, like the pipeline's predict) and probabilities."""
        fast = self.fast  # once: ``adopt`` may set it meanwhile (another thread)
        try:
            proba = self.model.pipeline_proba(rows) if fast is None else fast.predict_proba(rows)
        except ValueError as exc:
            # A number the contract lets through but the model's scaling overflows: 422.
            # (Imported here: the check's scikit-learn modules stay out of the start-up.)
            from petalflow.serving.model_range import unscorable

            problem = unscorable(self.model.pipeline, self.model.contract, rows)
            if problem is None:
                raise
            logger.info("a client's number the model cannot score: %s (%s)", problem, exc)
            raise problem from None
        # ndarray.argmax, not np.argmax: the function wrapper costs more than a row.
        codes = proba.argmax(axis=1)
        labels: list[str] = self._class_array[codes].tolist()
        return Scores(labels, proba, codes)
