"""The child runs of a tune: one nested MLflow run per trial, written in one batch.

Each trial costs three tracking calls whatever its number of values: ``create_run``
(name, parent and state tags), one ``log_batch`` (its hyperparameters and its CV mean and
std), and ``set_terminated``. Trials of parallel threads are written one at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, Run
from mlflow.tracking import MlflowClient

from petalflow.training.tracking import mlflow_value

logger = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"


class TrialRuns:
    """Writes trials as children of ``parent``, in its experiment."""

    def __init__(self, client: MlflowClient, parent: Run, metric: str) -> None:
        self.client = client
        self.parent_id = parent.info.run_id
        self.experiment_id = parent.info.experiment_id
        self.metric = metric
        self.logged: list[str] = []
        self._lock = threading.Lock()

    def log(
        self, number: int, params: dict[str, Any], scores: np.ndarray | None, started: float
    ) -> str:
        """The child run of trial ``number`` (scores None: the trial failed); its id."""
        state = "COMPLETE" if scores is not None else "FAIL"
        now = int(time.time() * 1000)
        metrics = []
        if scores is not None:
            metrics = [
                Metric(f"cv_{self.metric}_mean", float(scores.mean()), now, 0),
                Metric(f"cv_{self.metric}_std", float(scores.std()), now, 0),
                Metric("cv_folds", float(len(scores)), now, 0),
            ]
        with self._lock:
            child = self.client.create_run(
                self.experiment_id,
                start_time=int(started * 1000),
                tags={PARENT_TAG: self.parent_id, "trial_state": state, "trial": str(number)},
                run_name=f"trial-{number:03d}",
            )
            run_id = child.info.run_id
            self.client.log_batch(
                run_id,
                metrics=metrics,
                params=[Param(k, mlflow_value(v)) for k, v in params.items()],
            )
            self.client.set_terminated(
                run_id, "FINISHED" if scores is not None else "FAILED", end_time=now
            )
            self.logged.append(run_id)
        if scores is not None:
            logger.info(
                "trial %d: %s=%.4f (std %.4f) %s",
                number,
                self.metric,
                scores.mean(),
                scores.std(),
                params,
            )
        return run_id
