"""Train a classifier (Iris by default): `python train.py --help`. Logs one MLflow run."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from petalflow.core.collector import imports_frozen
from petalflow.core.errors import DataContractError, InvalidSplitError, PetalflowError, TableError
from petalflow.core.store import resolve_tracking_uri
from petalflow.training import config as cfg

if TYPE_CHECKING:
    from petalflow.training.data import Dataset

logger = logging.getLogger("petalflow.train")


def build_parser() -> argparse.ArgumentParser:
    """The CLI; its defaults are the only source of training defaults (MLproject mirrors them)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--seed",
        type=cfg.int_at_least(0, 2**32 - 1),
        default=42,
        help="split and estimator random_state (0 to 2**32-1)",
    )
    p.add_argument(
        "--test-size",
        type=cfg.open_unit_float,
        default=0.2,
        help="held-out share, in (0, 1); every class must keep >= 1 sample on both sides",
    )
    p.add_argument(
        "--model", choices=cfg.MODEL_CHOICES, default="logreg", help="classifier: logreg or rf"
    )
    p.add_argument(
        "--C",
        type=cfg.positive_float,
        default=1.0,
        help="inverse regularisation strength, > 0 (logreg)",
    )
    p.add_argument(
        "--max-iter",
        type=cfg.int_at_least(1),
        default=1000,
        help="solver iterations, >= 1 (logreg)",
    )
    p.add_argument(
        "--n-estimators", type=cfg.int_at_least(1), default=200, help="number of trees, >= 1 (rf)"
    )
    p.add_argument(
        "--max-depth",
        type=cfg.optional_int_at_least(1),
        default=None,
        help="tree depth, >= 1 or 'none' for unlimited (rf)",
    )
    p.add_argument(
        "--artifacts-dir",
        type=cfg.non_empty,
        default="artifacts",
        help="output folder (replaced atomically)",
    )
    p.add_argument(
        "--experiment-name",
        type=cfg.non_empty,
        default=None,
        help="MLflow experiment (default: the data set's name; ignored under `mlflow run`)",
    )
    p.add_argument(
        "--register-model",
        type=cfg.optional_model_name,
        default=None,
        help="register the model under this name ('none' = don't)",
    )
    p.add_argument(
        "--dataset",
        type=cfg.non_empty,
        default="iris",
        help="iris, wine, breast_cancer, penguins, synthetic, or a contract file (.yaml/.json) describing a CSV",
    )
    p.add_argument(
        "--alias",
        type=cfg.optional_alias,
        default=None,
        help="registry alias to point at the new version (needs --register-model)",
    )
    return p


def parse_config(argv: list[str] | None) -> tuple[cfg.TrainConfig, Dataset]:
    """Parse and validate every flag, and load and split the data set (once: the split is
    what validates --test-size). Exits 2 with one line naming the flag on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.alias and not args.register_model:
        parser.error(
            "argument --alias: needs --register-model NAME (an alias points at a registered version)"
        )
    if problem := cfg.check_artifacts_dir(
        args.artifacts_dir, [Path.cwd(), cfg.PROJECT_ROOT], (resolve_tracking_uri(),)
    ):
        parser.error(f"argument --artifacts-dir: {problem}")
    from petalflow.training.data import prepare

    try:
        dataset = prepare(args.dataset, test_size=args.test_size, seed=args.seed)
    except (DataContractError, TableError) as exc:
        parser.error(f"argument --dataset: {exc}")
    except InvalidSplitError as exc:
        parser.error(f"argument --test-size: {exc}")
    args.experiment_name = args.experiment_name or dataset.name
    return cfg.TrainConfig(**vars(args)), dataset


def _terminate(signum: int, _frame: object) -> None:
    # Unwind normally so the temporary folder is removed and the run ends FAILED.
    raise SystemExit(128 + signum)


def import_training() -> None:
    """Import what every training uses, skops first: at import, skops looks up each scipy
    ufunc in every loaded module (its trusted types), ~1 s more once MLflow and pandas are
    loaded. The MLflow model is saved in the skops format, so every training imports it."""
    import skops.io  # noqa: F401

    import petalflow.training.run  # noqa: F401
    from petalflow.training import tracking
    from petalflow.training.figures import import_matplotlib

    tracking.import_store_modules(tracking.resolve_tracking_uri())
    import_matplotlib()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    from petalflow.training.run import train

    config, dataset = parse_config(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # A flag the chosen model does not use is recorded but has no effect: say so. Under
    # `mlflow run` (MLFLOW_RUN_ID set) every flag is passed, so only changed values count.
    given = sys.argv[1:] if argv is None else argv
    for line in cfg.ignored_flag_warnings(
        build_parser(), given, config.model, only_changed="MLFLOW_RUN_ID" in os.environ
    ):
        logger.warning("%s", line)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        result = train(config, dataset)
    except PetalflowError as exc:
        logger.error("%s", exc)
        return 1
    print(
        f"run_id={result.run_id} accuracy={result.metrics['accuracy']:.4f} f1_macro={result.metrics['f1_macro']:.4f}"
    )
    return 0


def cli() -> int:
    """The process: imports without garbage collection, then main().

    Importing MLflow, scikit-learn and skops creates millions of objects that live until
    exit; the cyclic collector would walk them ~90 times (~1 s, a sixth of a training).
    Freezing them keeps later collections to the objects the training itself creates.
    """
    with imports_frozen():
        import_training()
    return main()


if __name__ == "__main__":
    from petalflow.core.teardown import run_entry_point

    run_entry_point("train.py", cli)
