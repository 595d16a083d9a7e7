"""`python -m petalflow <command>`: the commands of ``COMMANDS`` (``--help`` lists them).

Each command mirrors an MLproject entry point with the same parameters and defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from petalflow.core.errors import DataContractError


def build_contract_parser() -> argparse.ArgumentParser:
    """`contract infer`'s flags (MLproject's `contract` entry point mirrors them)."""
    p = argparse.ArgumentParser(
        prog="python -m petalflow contract infer",
        description="Print a data contract inferred from a CSV, for you to review.",
    )
    p.add_argument("data", help="the CSV (header row, one row per sample)")
    p.add_argument("--target", required=True, help="the target column")
    p.add_argument(
        "--drop",
        default=None,
        help="columns to leave out, comma-separated (ids, leaks, dates; 'none' = keep all)",
    )
    p.add_argument("--output", default=None, help="write the contract here ('none' = stdout)")
    return p


def contract_infer(argv: list[str]) -> int:
    """Infer and print (or write) a contract; exit 2 naming the flag on bad input."""
    from petalflow.training.contract_inference import contract_document, infer_contract

    parser = build_contract_parser()
    args = parser.parse_args(argv)
    output = None if str(args.output).lower() in ("none", "") else Path(args.output)
    csv = Path(args.data)
    if not csv.is_file():
        parser.error(f"argument data: no file {csv}")
    if output is not None and (problem := _output_problem(output, csv)):
        parser.error(f"argument --output: {problem}")
    try:
        drop = [] if str(args.drop).lower() in ("none", "") else args.drop.split(",")
        drop = [name.strip() for name in drop]
        inferred = infer_contract(csv, args.target, output.parent if output else None, drop)
    except DataContractError as exc:
        parser.error(str(exc))
    for line in [*inferred.untyped, *inferred.warnings]:
        print(f"contract infer: {line}", file=sys.stderr)
    text = yaml.safe_dump(contract_document(inferred.contract), sort_keys=False, allow_unicode=True)
    if output is None:
        sys.stdout.write(text)
        if csv.parent != Path("."):  # the source is relative to the file it will be saved in
            print(
                f"contract infer: source {csv} is relative to this folder: save the contract "
                "here, or write it with --output (its source is then relative to that file)",
                file=sys.stderr,
            )
    else:
        if problem := _write_new(output, text):
            parser.error(f"argument --output: cannot write {output} ({problem})")
        print(f"wrote {output}", file=sys.stderr)
    if run_id := os.environ.get("MLFLOW_RUN_ID"):  # `mlflow run -e contract`: its run keeps it
        return _log_to_run(run_id, text, output.name if output else "contract.yaml")
    return 0


def _write_new(output: Path, text: str) -> str | None:
    """Write ``text`` to the new file ``output``; why it failed, or None. A file that
    appeared meanwhile is not replaced, and no half-written contract is left."""
    created = False
    try:
        with output.open("x", encoding="utf-8") as out:
            created = True
            out.write(text)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                output.unlink()
        return exc.strerror or str(exc)
    return None


def _log_to_run(run_id: str, text: str, name: str) -> int:
    """Log the contract as the artifact ``name`` of the run that `mlflow run` started;
    the exit status (1, with one line, when the store cannot take it)."""
    from mlflow.exceptions import MlflowException

    from petalflow.core.errors import TrackingError
    from petalflow.training import tracking

    uri = tracking.resolve_tracking_uri()
    try:
        tracking.connect(uri).log_text(run_id, text, name)
    except (TrackingError, MlflowException) as exc:
        first = (str(exc).splitlines() or [""])[0]
        print(f"contract infer: cannot log {name} to MLflow run {run_id}: {first}", file=sys.stderr)
        return 1
    print(f"logged {name} to MLflow run {run_id}", file=sys.stderr)
    return 0


def _output_problem(output: Path, csv: Path) -> str | None:
    """Why ``contract infer`` must not write its contract to ``output``, or None."""
    from petalflow.training.datasets import CONTRACT_SUFFIXES

    if output.resolve() == csv.resolve():
        return f"{output} is the CSV itself; name the contract file, e.g. contract.yaml"
    if output.is_dir():
        return f"{output} is a folder; name the contract file, e.g. {output / 'contract.yaml'}"
    if not output.parent.is_dir():
        return f"no folder {output.parent}; create it first, or name a file in an existing one"
    if output.suffix not in CONTRACT_SUFFIXES:
        return f"{output} must end in {', '.join(CONTRACT_SUFFIXES)} (what --dataset reads)"
    if output.exists():
        return f"{output} exists and may hold your edits; remove it first, or name another file"
    return None


def _tune(argv: list[str]) -> int:
    from petalflow.training.tune_command import tune_main

    return tune_main(argv)


def _promote(argv: list[str]) -> int:
    from petalflow.training.promotion_command import promotion_main

    return promotion_main("promote", argv)


def _rollback(argv: list[str]) -> int:
    from petalflow.training.promotion_command import promotion_main

    return promotion_main("rollback", argv)


def _monitor_export(argv: list[str]) -> int:
    from petalflow.monitoring.log_export import export_main

    return export_main(argv)


def _monitor(argv: list[str]) -> int:
    from petalflow.monitoring.report import main as monitor

    return monitor(argv)


@dataclass(frozen=True)
class Command:
    """One command: its words, what it does (one line of the usage) and its entry point."""

    words: tuple[str, ...]
    summary: str
    run: Callable[[list[str]], int]

    @property
    def name(self) -> str:
        return " ".join(self.words)


# The dispatcher and the usage both read this table; "monitor export" before "monitor".
COMMANDS = (
    Command(("contract", "infer"), "print a data contract inferred from a CSV", contract_infer),
    Command(
        ("tune",), "search hyperparameters with Optuna, then refit and publish the best", _tune
    ),
    Command(
        ("promote",),
        "move 'champion' to the challenger if it wins on data neither trained on",
        _promote,
    ),
    Command(("rollback",), "point 'champion' back at 'previous-champion'", _rollback),
    Command(("monitor", "export"), "write the prediction log one line per row", _monitor_export),
    Command(
        ("monitor",), "print the drift and performance report from the prediction log", _monitor
    ),
)


def usage() -> str:
    """The usage: one line per command of ``COMMANDS``."""
    width = max(len(command.name) for command in COMMANDS)
    lines = [
        "usage: python -m petalflow COMMAND [ARGS]   (COMMAND --help lists its flags)",
        "",
        "commands:",
        *(f"  {command.name:<{width}}  {command.summary}" for command in COMMANDS),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command; -h/--help print the usage (0), also after the first word
    of a two-word command; no command or an unknown one prints it to stderr and exits 2."""
    args = sys.argv[1:] if argv is None else argv
    for command in COMMANDS:
        if tuple(args[: len(command.words)]) == command.words:
            return command.run(args[len(command.words) :])
    first = args[0] if args else ""
    group = [c.name for c in COMMANDS if len(c.words) > 1 and c.words[0] == first]
    if first in ("-h", "--help") or (group and args[1:2] in (["-h"], ["--help"])):
        print(usage())
        return 0
    if not args:
        problem = "pick a command"
    elif group and len(args) > 1:
        problem = f"{first!r} has no command {args[1]!r}; use {', '.join(group)}"
    elif group:
        problem = f"{first!r} needs its second word: {', '.join(group)}"
    else:
        problem = f"unknown command {' '.join(args[:2])!r}; pick one of the commands above"
    print(f"{usage()}\npython -m petalflow: error: {problem}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    from petalflow.core.teardown import run_entry_point

    run_entry_point("python -m petalflow", main)
