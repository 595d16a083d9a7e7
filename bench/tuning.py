"""Tune speed: `python -m petalflow tune` beside Optuna's MLflowCallback recipe.

    python bench/tuning.py [--trials 50] [--cv-folds 5] [--datasets iris,penguins] [--rounds 3]

Both sides search logistic regression's space (C log-uniform in [0.001, 1000],
class_weight none or balanced) with a TPE sampler seeded alike, score each trial by the same
stratified 5-fold CV of the same non-test rows, and log every trial as a nested MLflow run
under one parent run in a fresh sqlite store. The recipe is Optuna's documented one:
``MLflowCallback(mlflow_kwargs={"nested": True})`` inside a parent run (fluent
``start_run``/``log_metric``/``log_params``/``set_tags`` per trial). petalflow's tune does
more: the final refit, its test-split evaluation, plots, artifacts and MLflow model. Each
side is timed as a whole process (start-up and imports included), on a store created
beforehand, in ``--rounds`` rounds that alternate which side goes first (the first process
after a pause reads its libraries from disk); the table gives each side's median, and the
ratio of the medians. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SEED = 42


def recipe(dataset: str, trials: int, cv_folds: int, uri: str) -> None:
    """Optuna + MLflowCallback, nested under one parent run (the bench's other side)."""
    import mlflow
    import optuna
    from optuna_integration.mlflow import MLflowCallback
    from sklearn.model_selection import cross_val_score

    from petalflow.training import cross_validation, search_space
    from petalflow.training.data import prepare
    from petalflow.training.pipeline import assemble

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = prepare(dataset, 0.2, SEED)
    X, y = data.split.X_train, data.split.y_train
    folds = cross_validation.folds(y, cv_folds, SEED, 0.2)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "C": trial.suggest_float("C", 1e-3, 1e3, log=True),
            "class_weight": trial.suggest_categorical("class_weight", ["none", "balanced"]),
        }
        model = assemble(search_space.classifier("logreg", params, SEED), data.features)
        return float(cross_val_score(model, X, y, cv=folds, scoring="f1_macro").mean())

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment(dataset)
    callback = MLflowCallback(
        tracking_uri=uri,
        metric_name="cv_f1_macro",
        create_experiment=False,
        mlflow_kwargs={"nested": True, "experiment_id": experiment.experiment_id},
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SEED))
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name="recipe"):
        study.optimize(objective, n_trials=trials, callbacks=[callback])
        mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
        mlflow.log_metric("best_cv_f1_macro", study.best_value)


def _store(folder: Path) -> str:
    """A fresh sqlite store, created now (its schema migrations are not timed)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from petalflow.training.tracking import connect

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    try:
        connect(uri)
        MlflowClient(uri).search_experiments()
    finally:  # connect points MLflow's process-wide URI here: leave the caller's in place
        mlflow.set_tracking_uri(previous)
    return uri


def _timed(command: list[str], uri: str, cwd: Path) -> float:
    env = {**__import__("os").environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def _children(uri: str) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=10000)
    return sum("mlflow.parentRunId" in r.data.tags for r in runs)


def _round(
    dataset: str, trials: int, cv_folds: int, ours_first: bool
) -> tuple[float, float, int, int]:
    """(petalflow seconds, recipe seconds, child runs of each), each side in a fresh store
    and its own working folder."""
    with tempfile.TemporaryDirectory(prefix="petalflow-bench-tune-") as tmp:
        ours, theirs = Path(tmp) / "petalflow", Path(tmp) / "recipe"
        ours.mkdir()
        theirs.mkdir()
        uri_ours, uri_theirs = _store(ours), _store(theirs)
        flags = ["--dataset", dataset, "--trials", str(trials), "--cv-folds", str(cv_folds)]
        recipe_side = [sys.executable, str(Path(__file__).resolve()), "--recipe", *flags]
        sides = [
            (
                [sys.executable, "-m", "petalflow", "tune", *flags, "--seed", str(SEED)],
                uri_ours,
                ours,
            ),
            ([*recipe_side, "--uri", uri_theirs], uri_theirs, theirs),
        ]
        order = sides if ours_first else sides[::-1]
        seconds = {uri: _timed(command, uri, cwd) for command, uri, cwd in order}
        return seconds[uri_ours], seconds[uri_theirs], _children(uri_ours), _children(uri_theirs)


def compare(
    dataset: str, trials: int, cv_folds: int, rounds: int = 1
) -> tuple[list[float], list[float], int, int]:
    """Each side's seconds in ``rounds`` rounds (petalflow first in rounds 1, 3, ...), and
    the child runs each logged in the last."""
    ours: list[float] = []
    theirs: list[float] = []
    n_ours = n_theirs = 0
    for number in range(rounds):
        ours_s, theirs_s, n_ours, n_theirs = _round(dataset, trials, cv_folds, number % 2 == 0)
        ours.append(ours_s)
        theirs.append(theirs_s)
    return ours, theirs, n_ours, n_theirs


def main(argv: list[str] | None = None) -> int:
    """The comparison (or, with --recipe, the recipe's side alone)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--cv-folds", type=int, default=5)
    p.add_argument("--datasets", default="iris,penguins")
    p.add_argument(
        "--rounds",
        type=_at_least_one,
        default=3,
        help="rounds, petalflow first in rounds 1, 3, ...; medians reported",
    )
    p.add_argument("--recipe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    p.add_argument("--uri", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.recipe:
        recipe(args.dataset, args.trials, args.cv_folds, args.uri)
        return 0
    print(
        f"{args.trials} trials, logreg, {args.cv_folds}-fold CV, wall time per process, "
        f"median of {args.rounds} alternating rounds (each round's seconds in brackets)\n"
    )
    print(
        "| data set | petalflow tune | Optuna + MLflowCallback | ratio | child runs (ours / recipe) |"
    )
    print("|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        ours, theirs, n_ours, n_theirs = compare(dataset, args.trials, args.cv_folds, args.rounds)
        mine, peer = statistics.median(ours), statistics.median(theirs)
        print(
            f"| {dataset} | {mine:.1f} s ({_seconds(ours)}) | {peer:.1f} s ({_seconds(theirs)}) "
            f"| {mine / peer:.2f}x | {n_ours} / {n_theirs} |",
            flush=True,
        )
    return 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} rounds: give at least 1")
    return value


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
