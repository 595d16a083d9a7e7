"""`python -m petalflow.monitor`: the drift and performance report from the prediction log.

It judges the model version that served the traffic: by default the version of the
newest prediction in the log, whatever ``artifacts/`` holds now (a retrain replaces it).
That version's reference statistics and training metrics come from ``--artifacts-dir``
when it holds that version, else from its MLflow run.

Exit status: 0 when nothing alerts (ok, warn or too little data), 1 on an alert (drift
or accuracy), 2 on a usage error. A cron job or CI can retrain a challenger on 1, on data
that holds the new labelled traffic, e.g. `python -m petalflow.monitor || mlflow run .
--env-manager local --experiment-name iris -P register_model=iris-classifier -P
alias=challenger`, then ``promote`` it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from petalflow.core import store
from petalflow.core.errors import ModelLoadError, PetalflowError
from petalflow.core.model_card import ModelCard, card_for_version
from petalflow.monitoring.checks import Monitor
from petalflow.monitoring.prediction_log import PredictionLogReader
from petalflow.monitoring.settings import MonitoringSettings
from petalflow.observability.logs import configure_logging

logger = logging.getLogger(__name__)


def _optional(value: str) -> str | None:
    """'none' (MLproject's spelling of unset) or blank -> None."""
    return None if value.strip().lower() in ("", "none", "null") else value


def build_parser() -> argparse.ArgumentParser:
    """The CLI; defaults follow the server's environment variables."""
    try:
        defaults = MonitoringSettings()
    except ValidationError as exc:
        raise SystemExit(
            f"invalid environment: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}"
        ) from None
    p = argparse.ArgumentParser(prog="python -m petalflow.monitor", description=__doc__)
    p.add_argument(
        "--prediction-log", default=defaults.prediction_log, help="SQLite log (PREDICTION_LOG)"
    )
    p.add_argument(
        "--model-version",
        type=_optional,
        default=None,
        help="the model version (MLflow run id) to judge; default: the one that served the "
        "newest logged prediction",
    )
    p.add_argument(
        "--model-uri",
        type=_optional,
        default=None,
        help="judge the model this MLflow URI names (its training run) instead",
    )
    p.add_argument(
        "--artifacts-dir",
        type=Path,
        default=Path(os.environ.get("ARTIFACTS_DIR") or "artifacts"),
        help="local artifacts, used when they hold the judged version (ARTIFACTS_DIR)",
    )
    p.add_argument(
        "--window", type=int, default=defaults.drift_window, help="predictions in the drift window"
    )
    p.add_argument(
        "--min-samples",
        type=int,
        default=defaults.drift_min_samples,
        help="fewer: no drift verdict",
    )
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    return p


def _served_card(args: argparse.Namespace, latest: str | None) -> ModelCard | None:
    """The card of the version to judge (None: nothing logged and none named)."""
    tracking_uri = store.resolve_tracking_uri()
    version = args.model_version
    if args.model_uri:
        from mlflow.models import get_model_info

        try:
            version = get_model_info(args.model_uri).run_id
        except Exception as exc:  # MLflow raises many kinds for a bad URI
            raise ModelLoadError(f"cannot resolve {args.model_uri}: {exc}") from None
    version = version or latest
    if version is None:
        return None
    return card_for_version(version, args.artifacts_dir, tracking_uri)


def main(argv: list[str] | None = None) -> int:
    """Print the report; 0 all well, 1 alert."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.prediction_log or not Path(args.prediction_log).is_file():
        parser.error(
            f"argument --prediction-log: no prediction log at {args.prediction_log!r}; point it at the server's PREDICTION_LOG"
        )
    if args.window < 10:
        parser.error(f"argument --window: must be an integer >= 10, got {args.window}")
    if args.min_samples < 10:
        parser.error(f"argument --min-samples: must be an integer >= 10, got {args.min_samples}")
    configure_logging("WARNING")  # JSON lines on stderr, like the server's
    # ... so no MLflow progress bar there either (set the variable to have them).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = MonitoringSettings(drift_window=args.window, drift_min_samples=args.min_samples)
    # Read-only: the report never creates, migrates or writes the server's file.
    try:
        with PredictionLogReader(args.prediction_log) as log:
            card = _served_card(args, log.latest_model_version())
            if card is None:
                print(f"no predictions logged in {args.prediction_log} yet; nothing to judge")
                return 0
            monitor = Monitor(card, log, settings)
            report: dict[str, Any] = {
                "model_version": card.model_version,
                "drift": monitor.drift(),
                "performance": monitor.performance(),
            }
    except PetalflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["status"] = overall_status(report["drift"]["status"], report["performance"]["status"])
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_text(report)
    return 1 if report["status"] == "alert" else 0


def overall_status(*statuses: str) -> str:
    """The worst verdict of the drift and performance reports (alert, then warn, then ok);
    insufficient_data when neither has a verdict."""
    for verdict in ("alert", "warn"):
        if verdict in statuses:
            return verdict
    if set(statuses) <= {"insufficient_data", "unavailable"}:
        return "insufficient_data"
    return "ok"


def _print_text(report: dict[str, Any]) -> None:
    """The report as a few human-readable lines."""
    drift, perf = report["drift"], report["performance"]
    print(f"model {report['model_version']} (the version that served the traffic)")
    needed = drift.get("min_samples")
    print(
        f"drift: {drift['status']} over {drift.get('window_size', 0)} predictions"
        + (f" ({needed} needed for a verdict)" if needed else "")
    )
    for name, values in (drift.get("features") or {}).items():
        print(f"  {name}: {values['status']} ({_feature_detail(values)})")
    if drift.get("prediction"):
        print(
            f"  predicted classes: {drift['prediction']['status']} (psi {drift['prediction']['psi']:.3f})"
        )
    live = perf.get("live") or {}
    accuracy = (
        f"accuracy {live['accuracy']:.3f} vs training {perf['training']['accuracy']:.3f}"
        if live
        else f"{perf['min_labels']} needed for a verdict"
        if perf["status"] == "insufficient_data"
        else perf.get("detail", "")
    )
    n = perf["n_labelled"]
    noun = "prediction" if n == 1 else "predictions"
    print(f"performance: {perf['status']} over {n} labelled {noun} ({accuracy})")
    print(f"overall: {report['status']}")


def _feature_detail(values: dict[str, Any]) -> str:
    """A feature's figures: PSI and the test of its kind, and its missing rate if nullable,
    e.g. ``category, psi 0.012, chi2 p 0.71; missing 3.2% (training 4.0%, p 0.5)``."""
    kind = values.get("kind", "numeric")
    if values.get("psi") is None:
        parts = [f"{kind}, {values.get('detail', 'no distribution verdict')}"]
    elif "ks_pvalue" in values:
        parts = [f"{kind}, psi {values['psi']:.3f}, ks p {values['ks_pvalue']:.2g}"]
    else:
        unseen = values.get("unseen_share") or 0.0
        parts = [
            f"{kind}, psi {values['psi']:.3f}, chi2 p {values['chi2_pvalue']:.2g}"
            + (f", {unseen:.1%} unseen categories" if unseen else "")
        ]
    if "missing_rate" in values:
        parts.append(
            f"missing {values['missing_rate']:.1%} (training "
            f"{values['reference_missing_rate']:.1%}, p {values['missing_pvalue']:.2g})"
        )
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
