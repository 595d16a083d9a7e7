"""The child runs of a tune: one nested MLflow run per trial, written in one batch.

Each trial costs three tracking calls whatever its number of values: ``create_run``
(name, parent and state tags), one ``log_batch`` (its hyperparameters and its CV mean and
std), and ``set_terminated``. They are made here, in the parent process, as the search's
child process sends its trials: the trials never wait for the store.
"""

from __future__ import annotations

import logging

from mlflow.entities import Metric, Param, Run
from mlflow.tracking import MlflowClient

from petalflow.training.search import Trial
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

    def write(self, trial: Trial) -> str:
        """Log ``trial`` as a finished (or failed) child run; its run id."""
        state = "COMPLETE" if trial.scores is not None else "FAIL"
        ended = int(trial.ended * 1000)
        metrics = []
        if trial.scores is not None:
            logger.info(
                "trial %d: %s=%.4f (std %.4f) %s",
                trial.number,
                self.metric,
                trial.scores.mean(),
                trial.scores.std(),
                trial.params,
            )
            metrics = [
                Metric(f"cv_{self.metric}_mean", float(trial.scores.mean()), ended, 0),
                Metric("cv_folds", float(len(trial.scores)), ended, 0),
            ]
            if len(trial.scores) > 1:  # one validation split has no spread to report
                metrics.append(Metric(f"cv_{self.metric}_std", float(trial.scores.std()), ended, 0))
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
