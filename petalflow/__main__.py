"""`python -m petalflow <command>`: `contract infer DATA.csv --target COL`, `tune`,
`promote`, `rollback`, `monitor` and `monitor export`.

Each command mirrors an MLproject entry point with the same parameters and defaults.
"""

from __future__ import annotations

import argparse
import sys
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
    try:
        drop = [] if str(args.drop).lower() in ("none", "") else args.drop.split(",")
        inferred = infer_contract(csv, args.target, output.parent if output else None, drop)
    except DataContractError as exc:
        parser.error(str(exc))
    for line in inferred.untyped:
        print(f"contract infer: {line}", file=sys.stderr)
    text = yaml.safe_dump(contract_document(inferred.contract), sort_keys=False, allow_unicode=True)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    return 0


USAGE = (
    "usage: python -m petalflow {contract infer DATA.csv --target COL | tune ... | "
    "promote --model-name NAME ... | rollback --model-name NAME | monitor ... | monitor export ...}"
)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command; exit 2 with the usage line for an unknown one."""
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["contract", "infer"]:
        return contract_infer(args[2:])
    if args[:1] == ["tune"]:
        from petalflow.training.tune_command import tune_main

        return tune_main(args[1:])
    if args[:1] in (["promote"], ["rollback"]):
        from petalflow.training.promotion_command import promotion_main

        return promotion_main(args[0], args[1:])
    if args[:2] == ["monitor", "export"]:
        from petalflow.monitoring.log_export import export_main

        return export_main(args[2:])
    if args[:1] == ["monitor"]:
        from petalflow.monitoring.report import main as monitor

        return monitor(args[1:])
    print(
        f"{USAGE}\npython -m petalflow: error: unknown command {' '.join(args[:2])!r}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    from petalflow.core.teardown import exit_without_teardown

    exit_without_teardown(main())
