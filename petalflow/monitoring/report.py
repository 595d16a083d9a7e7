"""`python -m petalflow.monitor`: the drift and performance report from the prediction log.

Exit status: 0 when nothing alerts (ok, warn or too little data), 1 on an alert (drift
or accuracy), 2 on a usage error. A cron job or CI can retrain on 1, e.g.
`python -m petalflow.monitor || mlflow run . --env-manager local`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from petalflow.core.errors import PetalflowError
from petalflow.monitoring.checks import Monitor
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.serving.loading import load_model
from petalflow.serving.settings import Settings

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The CLI; defaults follow the server's environment variables."""
    try:
        defaults = Settings()
    except ValidationError as exc:
        raise SystemExit(
            f"invalid environment: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}"
        ) from None
    p = argparse.ArgumentParser(prog="python -m petalflow.monitor", description=__doc__)
    p.add_argument(
        "--prediction-log", default=defaults.prediction_log, help="SQLite log (PREDICTION_LOG)"
    )
    p.add_argument("--model-uri", default=defaults.model_uri, help="MLflow model URI (MODEL_URI)")
    p.add_argument(
        "--artifacts-dir",
        type=Path,
        default=defaults.artifacts_dir,
        help="local artifacts (ARTIFACTS_DIR)",
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
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        model = load_model(args.model_uri, args.artifacts_dir)
    except PetalflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = Settings(drift_window=args.window, drift_min_samples=args.min_samples)
    with PredictionLog(args.prediction_log) as log:
        monitor = Monitor(model, log, settings)
        report: dict[str, Any] = {
            "model_version": model.model_version,
            "drift": monitor.drift(),
            "performance": monitor.performance(),
        }
    alert = "alert" in (report["drift"]["status"], report["performance"]["status"])
    report["status"] = "alert" if alert else "ok"
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        drift, perf = report["drift"], report["performance"]
        print(f"model {model.model_version}")
        print(f"drift: {drift['status']} over {drift.get('window_size', 0)} predictions")
        for name, values in (drift.get("features") or {}).items():
            print(
                f"  {name}: {values['status']} (psi {values['psi']:.3f}, ks p {values['ks_pvalue']:.2g})"
            )
        if drift.get("prediction"):
            print(
                f"  predicted classes: {drift['prediction']['status']} (psi {drift['prediction']['psi']:.3f})"
            )
        live = perf.get("live") or {}
        accuracy = (
            f"accuracy {live['accuracy']:.3f} vs training {perf['training']['accuracy']:.3f}"
            if live
            else perf.get("detail", "")
        )
        print(f"performance: {perf['status']} over {perf['n_labelled']} labelled ({accuracy})")
        print(f"overall: {report['status']}")
    return 1 if alert else 0


if __name__ == "__main__":
    sys.exit(main())
