"""The child runs of a tune: one nested MLflow run per trial, written in one batch.

Each trial costs three tracking calls whatever its number of values: ``create_run``
(name, parent and state tags), one ``log_batch`` (its hyperparameters and its CV mean and
std), and ``set_terminated``. A writer thread makes them, in trial order of completion,
while the search goes on: the trials never wait for the store. ``close()`` waits for
every queued trial and raises what the store raised.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, Run
from mlflow.tracking import MlflowClient

from petalflow.training.tracking import mlflow_value

logger = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"


@dataclass(frozen=True)
class Trial:
    """What a finished trial logs (``scores`` None: it failed)."""

    number: int
    params: dict[str, Any]
    scores: np.ndarray | None
    started: float
    ended: float


class TrialRuns:
    """Writes trials as children of ``parent``, in its experiment; a context manager."""

    def __init__(self, client: MlflowClient, parent: Run, metric: str) -> None:
        self.client = client
        self.parent_id = parent.info.run_id
        self.experiment_id = parent.info.experiment_id
        self.metric = metric
        self.logged: list[str] = []
        self._queue: queue.Queue[Trial | None] = queue.Queue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_all, name="trial-runs", daemon=True)

    def __enter__(self) -> TrialRuns:
        self._writer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(
        self, number: int, params: dict[str, Any], scores: np.ndarray | None, started: float
    ) -> None:
        """Queue the child run of trial ``number``; the writer thread writes it."""
        self._queue.put(Trial(number, params, scores, started, time.time()))
        if scores is not None:
            logger.info(
                "trial %d: %s=%.4f (std %.4f) %s",
                number,
                self.metric,
                scores.mean(),
                scores.std(),
                params,
            )

    def close(self) -> None:
        """Write what is queued, stop the writer; raise the store's error if it failed."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        if self._error is not None:
            raise self._error

    def _write_all(self) -> None:
        while (trial := self._queue.get()) is not None:
            if self._error is None:  # after a failure, drain without writing
                try:
                    self.logged.append(self._write(trial))
                except BaseException as exc:  # handed to close(), in the caller's thread
                    self._error = exc

    def _write(self, trial: Trial) -> str:
        state = "COMPLETE" if trial.scores is not None else "FAIL"
        ended = int(trial.ended * 1000)
        metrics = []
        if trial.scores is not None:
            metrics = [
                Metric(f"cv_{self.metric}_mean", float(trial.scores.mean()), ended, 0),
                Metric(f"cv_{self.metric}_std", float(trial.scores.std()), ended, 0),
                Metric("cv_folds", float(len(trial.scores)), ended, 0),
            ]
        child = self.client.create_run(
            self.experiment_id,
            start_time=int(trial.started * 1000),
            tags={PARENT_TAG: self.parent_id, "trial_state": state, "trial": str(trial.number)},
            run_name=f"trial-{trial.number:03d}",
        )
        run_id = child.info.run_id
        self.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(k, mlflow_value(v)) for k, v in trial.params.items()],
        )
        status = "FINISHED" if trial.scores is not None else "FAILED"
        self.client.set_terminated(run_id, status, end_time=ended)
        return run_id
