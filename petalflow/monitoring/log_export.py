"""`python -m petalflow monitor export`: the prediction log one line per predicted row.

The log stores a batch's features and probabilities as float64 BLOBs (compact and cheap
to write, unreadable by SQLite's JSON functions); this writes them out as CSV or JSON
lines: request_id, row_index, created_at, model_version, feature_0..feature_<k-1> (the
model's feature order), label, true_label (feedback), proba_<class> per class. It opens
the log read-only, so it is safe on the live file of a running server. Exit 2 on a usage
error.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from petalflow.core.errors import PetalflowError
from petalflow.monitoring.prediction_log import PredictionLogReader
from petalflow.monitoring.settings import MonitoringSettings

FORMATS = ("csv", "jsonl")


def build_export_parser() -> argparse.ArgumentParser:
    """The flags (MLproject's `export` entry point mirrors them); the log defaults to
    PREDICTION_LOG, as for `monitor`."""
    try:
        default_log = MonitoringSettings().prediction_log
    except ValidationError as exc:
        raise SystemExit(f"invalid environment: {exc.errors()[0]['loc'][0]}") from None
    p = argparse.ArgumentParser(
        prog="python -m petalflow monitor export",
        description="Write the prediction log one line per predicted row.",
    )
    p.add_argument("--prediction-log", default=default_log, help="SQLite log (PREDICTION_LOG)")
    p.add_argument("--format", choices=FORMATS, default="csv", help="csv (a header) or jsonl")
    p.add_argument("--output", default=None, help="write here ('none' = stdout)")
    return p


def write(rows: Iterable[dict[str, Any]], out: IO[str], form: str) -> int:
    """Write ``rows`` to ``out`` as ``form``; the number written. CSV takes its columns
    from the first row: ValueError for a row with others (another model's features or
    classes), which JSON lines can hold."""
    n = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if form == "jsonl":
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE).decode())
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
                writer.writeheader()
            elif list(row) != writer.fieldnames:
                raise ValueError(
                    f"request {row['request_id']!r} has other columns than the rows before "
                    f"it (a model with other features or classes); use --format jsonl"
                )
            writer.writerow(row)
        n += 1
    return n


def export_main(argv: list[str]) -> int:
    """Export the log; 0 done, 2 on a usage error (named flag, nothing half-explained)."""
    parser = build_export_parser()
    args = parser.parse_args(argv)
    output = None if str(args.output).lower() in ("none", "") else Path(args.output)
    if not args.prediction_log or not Path(args.prediction_log).is_file():
        parser.error(
            f"argument --prediction-log: no prediction log at {args.prediction_log!r}; "
            "point it at the server's PREDICTION_LOG"
        )
    try:
        with PredictionLogReader(args.prediction_log) as log:
            if output is None:
                n = write(log.predicted_rows(), sys.stdout, args.format)
            else:
                with output.open("w", encoding="utf-8", newline="") as out:
                    n = write(log.predicted_rows(), out, args.format)
    except (PetalflowError, ValueError) as exc:
        parser.error(f"argument --prediction-log: {exc}")
    except OSError as exc:
        parser.error(f"argument --output: cannot write {output}: {exc.strerror}")
    if output is not None:
        print(f"wrote {n} rows to {output}", file=sys.stderr)
    return 0
