"""Train the Iris classifier: `python train.py --help`. Logs one MLflow run."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from petalflow.core.errors import InvalidSplitError, PetalflowError
from petalflow.training import config as cfg
from petalflow.training.data import load_dataset, split_dataset
from petalflow.training.run import train

logger = logging.getLogger("petalflow.train")


def build_parser() -> argparse.ArgumentParser:
    """The CLI; its defaults are the only source of training defaults (MLproject mirrors them)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=cfg.int_at_least(0, 2**32 - 1), default=42, help="split and estimator random_state (0 to 2**32-1)")
    p.add_argument("--test-size", type=cfg.open_unit_float, default=0.2, help="held-out share, in (0, 1); every class must keep >= 1 sample on both sides")
    p.add_argument("--model", choices=cfg.MODEL_CHOICES, default="logreg", help="classifier: logreg or rf")
    p.add_argument("--C", type=cfg.positive_float, default=1.0, help="inverse regularisation strength, > 0 (logreg)")
    p.add_argument("--max-iter", type=cfg.int_at_least(1), default=1000, help="solver iterations, >= 1 (logreg)")
    p.add_argument("--n-estimators", type=cfg.int_at_least(1), default=200, help="number of trees, >= 1 (rf)")
    p.add_argument("--max-depth", type=cfg.optional_int_at_least(1), default=None, help="tree depth, >= 1 or 'none' for unlimited (rf)")
    p.add_argument("--artifacts-dir", type=cfg.non_empty, default="artifacts", help="output folder (replaced atomically)")
    p.add_argument("--experiment-name", type=cfg.non_empty, default="iris", help="MLflow experiment (ignored under `mlflow run`)")
    p.add_argument("--register-model", type=cfg.optional_name, default=None, help="register the model under this name ('none' = don't)")
    p.add_argument("--alias", type=cfg.optional_alias, default=None, help="registry alias to point at the new version (needs --register-model)")
    return p


def parse_config(argv: list[str] | None) -> cfg.TrainConfig:
    """Parse and validate every flag; exits 2 with one line naming the flag on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.alias and not args.register_model:
        parser.error("argument --alias: needs --register-model NAME (an alias points at a registered version)")
    if problem := cfg.check_artifacts_dir(args.artifacts_dir, [Path.cwd(), cfg.PROJECT_ROOT]):
        parser.error(f"argument --artifacts-dir: {problem}")
    try:
        split_dataset(*load_dataset(), test_size=args.test_size, seed=args.seed)
    except InvalidSplitError as exc:
        parser.error(f"argument --test-size: {exc}")
    return cfg.TrainConfig(**vars(args))


def _terminate(signum: int, _frame: object) -> None:
    # Unwind normally so the temporary folder is removed and the run ends FAILED.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    config = parse_config(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        result = train(config)
    except PetalflowError as exc:
        logger.error("%s", exc)
        return 1
    print(f"run_id={result.run_id} accuracy={result.metrics['accuracy']:.4f} f1_macro={result.metrics['f1_macro']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
