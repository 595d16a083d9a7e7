"""MLflow tracking: where runs go, one run per training, registry and aliases."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from petalflow.core.errors import TrackingError
from petalflow.core.store import (  # noqa: F401  (re-exported for training's callers)
    PROJECT_ROOT,
    default_tracking_uri,
    local_artifact_root,
    resolve_tracking_uri,
)
from petalflow.training.signals import signals_held

logger = logging.getLogger(__name__)

# Bounded retries so that an unreachable server fails the training well within 60 s
# (MLflow's own defaults retry for minutes). Users may still override them.
_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


# URI schemes (before any "+driver") of the stores MLflow keeps in a database.
_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")


def is_database(uri: str) -> bool:
    """Whether MLflow keeps ``uri``'s store in a database (not behind a server)."""
    return uri.partition(":")[0].partition("+")[0] in _DATABASES


def import_store_modules(uri: str) -> None:
    """Import what MLflow would import at the first call to ``uri``'s store (a database
    store: SQLAlchemy and alembic) and at the first model it logs (its sklearn and pyfunc
    flavors), so that an entry point imports them with its others, the collector off."""
    import mlflow.pyfunc
    import mlflow.sklearn

    if is_database(uri):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


def _new_database(uri: str) -> bool:
    """Whether the sqlite file behind ``uri`` is missing or empty (not yet created)."""
    path = Path(uri.removeprefix("sqlite:///"))
    return not path.is_file() or path.stat().st_size == 0


@functools.cache
def _sqlite_store(uri: str) -> Any:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    return SqlAlchemyStore(uri, local_artifact_root(uri))


def connect(uri: str) -> MlflowClient:
    """Point MLflow at ``uri`` and check that the store answers; TrackingError if not."""
    for key, value in _HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    mlflow.set_tracking_uri(uri)
    # A database store may be created now (MLflow's schema migrations): stopped midway,
    # MLflow could not open it again. A server's store is the server's: a stop while
    # it does not answer must not wait for its timeouts.
    database = is_database(uri)
    try:
        with signals_held() if database else contextlib.nullcontext():
            if local_artifact_root(uri) and _new_database(uri):
                # Creates the database (and its Default experiment) with anchored
                # artifacts. Only then: each store instance re-reads MLflow's ~130
                # schema migrations.
                _sqlite_store(uri)
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)
    except Exception as exc:  # MLflow raises many types for an unreachable store
        raise TrackingError(
            f"cannot reach the MLflow tracking store at {uri} ({type(exc).__name__}); "
            "start the server, fix MLFLOW_TRACKING_URI, or unset it to use the local store"
        ) from exc
    return client


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"the experiment {name!r} is deleted in {uri}; restore it "
            f"(mlflow experiments restore --experiment-id {experiment.experiment_id}) or "
            "name another with --experiment-name"
        )
    if experiment is not None:
        return str(experiment.experiment_id)
    if local_artifact_root(uri):
        return str(_sqlite_store(uri).create_experiment(name))
    return str(client.create_experiment(name))


@contextmanager
def training_run(
    client: MlflowClient, experiment_name: str, uri: str, run_name: str
) -> Iterator[Run]:
    """The run to log into, named ``run_name`` from its start (a run that fails early is
    found by it too): the one ``mlflow run`` started, or a new one.

    The run ends FAILED when the block raises (SystemExit included), FINISHED otherwise.
    With a database store, a stop while the run is created waits until it has been: the
    run then ends FAILED (stopped inside MLflow's start_run, it stayed RUNNING).
    """
    with contextlib.ExitStack() as started:
        with signals_held() if is_database(uri) else contextlib.nullcontext():
            if launched_by_mlflow_run():
                # Launched by `mlflow run`: its run and experiment win over --experiment-name.
                context = mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"], run_name=run_name)
            else:
                experiment_id = _experiment_id(client, experiment_name, uri)
                context = mlflow.start_run(experiment_id=experiment_id, run_name=run_name)
            run = started.enter_context(context)
        # A held stop acts here, inside the run: it ends FAILED.
        logger.info("MLflow run %s (experiment %s)", run.info.run_id, run.info.experiment_id)
        yield run


DEFAULT_EXPERIMENT_ID = "0"  # MLflow's Default experiment


def launched_by_mlflow_run() -> bool:
    """Whether `mlflow run` started this process, and the run to log into."""
    return bool(os.environ.get("MLFLOW_RUN_ID"))


def experiment_of(client: MlflowClient, run: Run, wanted: str) -> str:
    """The name of ``run``'s experiment; a warning if it is MLflow's Default rather than
    ``wanted`` (`mlflow run` without ``--experiment-name`` puts its run there; with one,
    the user chose it). A run tune or train started is in ``wanted``: no store call."""
    if not launched_by_mlflow_run():
        return wanted
    name = str(client.get_experiment(run.info.experiment_id).name)
    if run.info.experiment_id == DEFAULT_EXPERIMENT_ID and name != wanted:
        logger.warning(
            "this run is in the experiment %r (mlflow run's), not %r: run `mlflow run` with "
            "--experiment-name %s to keep it beside the data set's other runs",
            name,
            wanted,
            shlex.quote(wanted),
        )
    return name


def mlflow_value(value: Any) -> str:
    """How a param is spelled in MLflow: unset optional values are 'none'."""
    return "none" if value is None else str(value)


def log_params_once(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log params, skipping keys `mlflow run` already logged (MLflow refuses to change one)."""
    existing = client.get_run(run_id).data.params
    fresh = {k: mlflow_value(v) for k, v in params.items() if k not in existing}
    if fresh:
        mlflow.log_params(fresh)


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """HEAD's commit when the project is a git checkout with a commit, else None."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def register(client: MlflowClient, model_uri: str, name: str, alias: str | None) -> dict[str, Any]:
    """Register ``model_uri`` under ``name``; the alias is moved later by ``move_alias``."""
    try:
        version = mlflow.register_model(model_uri, name)
    except MlflowException as exc:
        raise TrackingError(f"could not register the model as {name!r}: {exc.message}") from exc
    logger.info("registered %s version %s", name, version.version)
    return {"name": name, "version": int(version.version), "alias": alias}


def move_alias(client: MlflowClient, registered: dict[str, Any]) -> None:
    """Point the alias at the new version: the last step, once the training succeeded."""
    if not registered.get("alias"):
        return
    name, alias, version = registered["name"], registered["alias"], registered["version"]
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise TrackingError(
            f"could not point {name}@{alias} at version {version}: {exc.message}; the "
            f"artifacts and version {version} are published: point the alias with "
            f"MlflowClient().set_registered_model_alias({name!r}, {alias!r}, '{version}'), "
            "or retrain"
        ) from exc
    logger.info("%s@%s -> version %s", name, alias, version)
