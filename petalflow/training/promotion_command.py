"""`python -m petalflow promote` and `rollback`: their flags (MLproject mirrors them).

Exit status: 0 promoted (or rolled back), 1 the champion is kept, 2 a usage error or a
comparison that is refused (nothing moved).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from petalflow.core.errors import PetalflowError
from petalflow.training import config as cfg
from petalflow.training.cross_validation import METRICS

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)


def _non_negative(value: str) -> float:
    """argparse type: a finite float >= 0."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {value!r}")
    return number


def build_promote_parser() -> argparse.ArgumentParser:
    """promote's flags."""
    p = argparse.ArgumentParser(
        prog="python -m petalflow promote",
        description="Score the challenger and the champion on data neither trained on; move "
        "'champion' to the challenger when it is at least --min-delta better on each.",
    )
    p.add_argument("--model-name", type=cfg.non_empty, required=True, help="registered model")
    p.add_argument("--challenger", type=cfg.optional_alias, default="challenger", help="alias")
    p.add_argument("--champion", type=cfg.optional_alias, default="champion", help="alias")
    p.add_argument("--metric", choices=sorted(METRICS), default="f1_macro", help="the score")
    p.add_argument(
        "--min-delta", type=_non_negative, default=0.0, help="margin the challenger needs, >= 0"
    )
    p.add_argument(
        "--prediction-log",
        type=cfg.optional_name,
        default=None,
        help="also score both on its labelled predictions (when it holds enough)",
    )
    return p


def build_rollback_parser() -> argparse.ArgumentParser:
    """rollback's flags."""
    p = argparse.ArgumentParser(
        prog="python -m petalflow rollback",
        description="Point the champion alias back at the version a promotion replaced "
        "('previous-champion' for 'champion').",
    )
    p.add_argument("--model-name", type=cfg.non_empty, required=True, help="registered model")
    p.add_argument("--champion", type=cfg.optional_alias, default="champion", help="alias")
    p.add_argument(
        "--challenger",
        type=cfg.optional_alias,
        default="challenger",
        help="alias unset if it names the version rolled back",
    )
    return p


def _client() -> MlflowClient:
    """The registry's client; TrackingError for a sqlite store whose file is not there
    (rather than a new empty store, and "no registered model")."""
    from petalflow.core.errors import TrackingError
    from petalflow.core.store import missing_database
    from petalflow.training import tracking

    uri = tracking.resolve_tracking_uri()
    if problem := missing_database(uri):
        raise TrackingError(problem)
    return tracking.connect(uri)


def _name_mlflow_runs_run(client: MlflowClient, name: str, outcome: str) -> None:
    """Under `mlflow run` (which started a run for the command): name its run, and say in
    its description what the command did, for `mlflow ui`."""
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException

    if run_id := os.environ.get("MLFLOW_RUN_ID"):
        tags = [RunTag("mlflow.runName", name), RunTag("mlflow.note.content", outcome)]
        try:  # the command is done: naming its run is no part of it
            client.log_batch(run_id, tags=tags)
        except (MlflowException, OSError) as exc:
            logger.warning("could not name the run %s of mlflow run: %s", run_id, exc)


def promotion_main(command: str, argv: list[str]) -> int:
    """Run ``promote`` or ``rollback``; the exit status."""
    from petalflow.training import promotion

    parser = build_promote_parser() if command == "promote" else build_rollback_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    from mlflow.exceptions import MlflowException

    log = None
    if args.challenger is None or args.champion is None:  # before the store is touched
        parser.error("argument --challenger/--champion: name an alias (not none, nor empty)")
    if args.challenger == args.champion:
        parser.error(f"argument --challenger: must differ from --champion ({args.champion!r})")
    if command == "promote":
        log = Path(args.prediction_log) if args.prediction_log else None
        if log is not None and not log.is_file():
            parser.error(f"argument --prediction-log: no file {log}")
    try:
        client = _client()
        if command == "rollback":
            restored, demoted = promotion.rollback(
                client, args.model_name, args.champion, args.challenger
            )
            said = (
                f"rolled back {args.model_name}: {args.champion} -> version {restored} "
                f"(was {demoted})"
            )
            print(said)
            _name_mlflow_runs_run(client, f"rollback-{args.model_name}", said)
            return 0
        request = promotion.Request(
            args.model_name, args.challenger, args.champion, args.metric, args.min_delta, log
        )
        decision = promotion.decide(client, request)
        said = decision.summary(request)
        _name_mlflow_runs_run(client, f"promote-{args.model_name}", said)
    except PetalflowError as exc:
        print(f"python -m petalflow {command}: error: {exc}", file=sys.stderr)
        return 2
    except (MlflowException, OSError) as exc:  # exit 1 means "champion kept": not this
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        print(
            f"python -m petalflow {command}: error: MLflow failed ({first}); {command} did "
            "not complete: check the model's aliases, fix the store or the model's artifacts, "
            "and run it again",
            file=sys.stderr,
        )
        return 2
    print(said)
    return 0 if decision.promoted else 1
