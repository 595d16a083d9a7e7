"""`python -m petalflow tune`: its flags (MLproject's `tune` entry point mirrors them)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from petalflow.core.collector import imports_frozen
from petalflow.core.errors import DataContractError, InvalidSplitError, PetalflowError, TableError
from petalflow.core.store import resolve_tracking_uri
from petalflow.training import config as cfg
from petalflow.training.signals import DRAINING, SearchStop, signals_held

if TYPE_CHECKING:
    from petalflow.training.data import Dataset
    from petalflow.training.search import Searched, TuneConfig

logger = logging.getLogger(__name__)


def build_tune_parser() -> argparse.ArgumentParser:
    """The flags of tune; their defaults are the only source of tune defaults."""
    from petalflow.training.cross_validation import METRICS

    p = argparse.ArgumentParser(
        prog="python -m petalflow tune",
        description="Search a model's hyperparameters with Optuna (one nested MLflow run per "
        "trial), then refit the best on every non-test row and publish it as train.py does.",
    )
    p.add_argument("--dataset", type=cfg.non_empty, default="iris", help="as train.py's")
    p.add_argument("--model", choices=cfg.MODEL_CHOICES, default="logreg", help="logreg or rf")
    p.add_argument(
        "--trials", type=cfg.int_at_least(1), default=20, help="trials in the study, >= 1"
    )
    p.add_argument(
        "--seed",
        type=cfg.int_at_least(0, 2**32 - 1),
        default=42,
        help="split, folds, sampler and estimator seed",
    )
    p.add_argument("--jobs", type=cfg.int_at_least(1), default=1, help="parallel trials, >= 1")
    p.add_argument("--metric", choices=sorted(METRICS), default="f1_macro", help="CV score")
    p.add_argument(
        "--cv-folds",
        type=cfg.int_at_least(1),
        default=5,
        help="stratified folds of the non-test rows; 1 = one 10%% validation split",
    )
    p.add_argument("--test-size", type=cfg.open_unit_float, default=0.2, help="as train.py's")
    p.add_argument(
        "--storage",
        type=cfg.optional_name,
        default=None,
        help="Optuna storage URL shared by processes, e.g. postgresql://... (needs --study)",
    )
    p.add_argument("--study", type=cfg.optional_name, default=None, help="the study's name")
    p.add_argument(
        "--register-model", type=cfg.optional_model_name, default=None, help="as train.py's"
    )
    p.add_argument(
        "--alias",
        type=cfg.optional_alias,
        default=None,
        help="as train.py's (needs --register-model)",
    )
    p.add_argument("--artifacts-dir", type=cfg.non_empty, default="artifacts", help="as train.py's")
    p.add_argument(
        "--experiment-name", type=cfg.non_empty, default=None, help="default: the data set's name"
    )
    return p


# Processes started together on an empty database all create Optuna's tables; the losers
# see "already exists" (or a duplicate version row) and succeed once the winner is done.
_OPEN_ATTEMPTS = 5
_OPEN_PAUSE = 0.5


def _lost_schema_race(exc: Exception) -> bool:
    """Whether opening failed only because another process was creating the same tables."""
    return type(exc).__name__ == "IntegrityError" or "already exists" in str(exc)


def _same_database(storage: str, tracking: str) -> bool:
    """Whether two database URLs name one database (one sqlite file, however spelled)."""
    from sqlalchemy.engine import make_url

    try:
        ours, theirs = make_url(storage), make_url(tracking)
    except Exception:  # not a database URL (a tracking server, a folder): not the same
        return False
    if ours.get_backend_name() != theirs.get_backend_name():
        return False
    if ours.get_backend_name() == "sqlite":
        files = ours.database, theirs.database
        return all(files) and Path(str(files[0])).resolve() == Path(str(files[1])).resolve()
    # the query too: one database may hold both in two schemas (options=-csearch_path=...)
    where = (ours.host, ours.port, ours.database, dict(ours.query))
    return where == (theirs.host, theirs.port, theirs.database, dict(theirs.query))


def _check_storage(url: str, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Why Optuna cannot open the storage at ``url`` (None if it can)."""
    import optuna

    from petalflow.training.search import redacted

    attempt = 1
    while True:
        try:
            # Closed now: its pooled connection would otherwise cross the fork.
            optuna.storages.RDBStorage(url).engine.dispose()
            return None
        except Exception as exc:  # SQLAlchemy and its drivers raise many types
            if attempt == _OPEN_ATTEMPTS or not _lost_schema_race(exc):
                first = (str(exc).splitlines() or [""])[0]
                return f"Optuna cannot open {redacted(url)} ({type(exc).__name__}: {first}); fix the URL"
        logger.info("Optuna's tables at %s are being created elsewhere; retrying", redacted(url))
        attempt += 1
        sleep(_OPEN_PAUSE)


def parse_tune(argv: list[str]) -> tuple[TuneConfig, Dataset]:
    """Parse and validate every flag, and load and split the data set; exit 2 naming the
    flag on bad input, before any run or file is made."""
    from petalflow.training.cross_validation import folds
    from petalflow.training.data import prepare

    parser = build_tune_parser()
    args = parser.parse_args(argv)
    if args.alias and not args.register_model:
        parser.error("argument --alias: needs --register-model NAME")
    if args.storage and not args.study:
        parser.error("argument --study: needed with --storage (processes share a study by name)")
    if args.study and not args.storage:
        parser.error(
            "argument --study: needs --storage URL (a study is shared through a database; "
            "without one each tune has its own)"
        )
    if problem := cfg.check_artifacts_dir(
        args.artifacts_dir,
        [Path.cwd(), cfg.PROJECT_ROOT],
        (resolve_tracking_uri(), args.storage),
    ):
        parser.error(f"argument --artifacts-dir: {problem}")
    try:
        dataset = prepare(args.dataset, test_size=args.test_size, seed=args.seed)
    except (DataContractError, TableError) as exc:
        parser.error(f"argument --dataset: {exc}")
    except InvalidSplitError as exc:
        parser.error(f"argument --test-size: {exc}")
    try:
        folds(dataset.split.y_train, args.cv_folds, args.seed, args.test_size)
    except InvalidSplitError as exc:
        parser.error(f"argument --cv-folds: {exc}")
    if args.storage and _same_database(args.storage, resolve_tracking_uri()):
        parser.error(
            "argument --storage: that is the MLflow tracking store; give Optuna a database "
            "of its own (both keep their schema's version in one alembic_version table), "
            "e.g. sqlite:///optuna.db"
        )
    if args.storage and (problem := _check_storage(args.storage)):
        parser.error(f"argument --storage: {problem}")
    args.experiment_name = args.experiment_name or dataset.name
    from petalflow.training.search import TuneConfig

    config = TuneConfig(**vars(args))
    if config.storage and (problem := _other_search(config, dataset)):
        parser.error(f"argument --study: {problem}")
    return config, dataset


def _other_search(config: TuneConfig, dataset: Dataset) -> str | None:
    """Why the shared study ``config.study`` holds another search's trials (scored on
    other data, model, metric, folds or split), or None: a new study, or the same search.
    (The search process checks again once it joins: processes may start together.)"""
    import optuna

    from petalflow.training import shared_study

    storage = optuna.storages.RDBStorage(str(config.storage))
    try:
        study = optuna.load_study(study_name=config.study, storage=storage)
        recorded, trials = study.user_attrs.get(shared_study.SETTINGS_ATTR), len(study.trials)
    except KeyError:  # no such study yet: this process may create it
        return None
    finally:
        storage.engine.dispose()  # its pooled connection would otherwise cross the fork
    mine = shared_study.settings(config, dataset)
    return shared_study.conflict(config.study, recorded, mine, trials)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _import_search() -> None:
    """Import what loading the data and searching need (scikit-learn, pandas, Optuna),
    with the collector off, then freeze it: before the fork, so that neither process
    walks those objects again."""
    with imports_frozen():
        import petalflow.training.assessment
        import petalflow.training.search  # noqa: F401


def _import_tracking() -> None:
    """Import MLflow and what publishing needs, with the collector off, then freeze it
    (as train.py's cli does): later collections skip the objects MLflow and skops make."""
    with imports_frozen():
        import skops.io  # noqa: F401

        import petalflow.training.tuning  # noqa: F401
        from petalflow.training import tracking

        tracking.import_store_modules(tracking.resolve_tracking_uri())


def search_in_child(
    config: TuneConfig, dataset: Dataset, folder: Path, send: Callable[[Any], None]
) -> Searched | None:
    """The study, in the forked child, then the best trial refit and assessed, its plots
    drawn into ``folder``. SIGTERM and Ctrl-C end it as SystemExit, so that it fails its
    trials in flight before the child ends (a signal ignored stays so)."""
    from petalflow.training import figures
    from petalflow.training.assessment import assess
    from petalflow.training.search import Searched, best_pipeline, search

    stop = SearchStop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, stop.handle)
    best = search(config, dataset, send, stop.held)
    if best is None:
        return None
    with imports_frozen():
        figures.import_matplotlib()
    pipeline = best_pipeline(config, dataset, best)
    return Searched(best, assess(pipeline, dataset, config.seed, folder))


def tune_main(argv: list[str]) -> int:
    """`python -m petalflow tune ...`; returns the exit status (2 usage, 1 failure)."""
    _import_search()
    config, dataset = parse_tune(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    signal.signal(signal.SIGTERM, _terminate)
    from petalflow.core.forked import Forked

    # The trials start now, in a child on the other core, while this process imports
    # MLflow and opens the store (about as long as 50 Iris trials take); the child then
    # refits the best and draws its plots while this process logs the trials.
    with (
        tempfile.TemporaryDirectory(prefix="petalflow-assessment-") as folder,
        Forked(lambda send: search_in_child(config, dataset, Path(folder), send)) as searching,
        contextlib.ExitStack() as holding,
    ):
        # From now until every trial the search finishes has its child run, a stop stops
        # the search and waits (``tuning.logged_search`` ends this hold).
        held = holding.enter_context(signals_held(DRAINING, on_hold=searching.interrupter()))
        _import_tracking()
        from petalflow.training.tuning import tune

        try:
            result = tune(config, dataset, searching, (holding, held))
        except PetalflowError as exc:
            logger.error("%s", exc)
            return 1
    best = result.metrics[f"best_cv_{config.metric}"]
    print(
        f"run_id={result.run_id} best_cv_{config.metric}={best:.4f} "
        f"accuracy={result.metrics['accuracy']:.4f} f1_macro={result.metrics['f1_macro']:.4f}"
    )
    return 0
