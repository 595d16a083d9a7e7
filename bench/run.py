"""Benchmark petalflow beside `mlflow models serve` and the FastAPI floor: `make bench`.

Trains logreg and rf into a temporary folder (temporary MLflow store too), starts each
server with one uvicorn worker on loopback, drives them with wrk in interleaved rounds
(throughput) and with bench/latency.py (p50, p99, maximum), and writes a Markdown report
(bench/results.md by default; raw outputs under bench/results/). `--quick` is the smoke
test: logreg only, one short round.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, servers
from bench.goals import goals, goals_table
from bench.loadgen import BenchError, ensure_wrk
from bench.payloads import write_bodies
from bench.suite import (
    SINGLE,
    Latency,
    Plan,
    Summary,
    check_servers,
    cold_starts,
    latency_runs,
    paired_ratios,
    run_rounds,
    scenarios,
)

ROOT = servers.ROOT
QUICK = {
    "models": "logreg",
    "rounds": 1,
    "duration": 2,
    "warmup": 0,
    "cold_starts": 1,
    "cost_rounds": 2,
    "latency_seconds": 2,
}
FULL = {
    "models": "logreg,rf",
    "rounds": 3,
    "duration": 4,
    "warmup": 1,
    "cold_starts": 3,
    "cost_rounds": 24,
    "latency_seconds": 10,
}
COST_SECONDS = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke test: logreg, 1 round of 2 s, 1 cold start"
    )
    p.add_argument("--models", help=f"comma-separated: logreg,rf (default {FULL['models']})")
    p.add_argument("--rounds", type=int, help=f"interleaved rounds (default {FULL['rounds']})")
    p.add_argument(
        "--duration", type=int, help=f"seconds per cell per round (default {FULL['duration']})"
    )
    p.add_argument(
        "--warmup",
        type=int,
        help=f"seconds of warm-up per cell, 0 = none (default {FULL['warmup']})",
    )
    p.add_argument(
        "--cold-starts", type=int, help=f"starts per server (default {FULL['cold_starts']})"
    )
    p.add_argument(
        "--cost-rounds",
        type=int,
        help="paired log on/off rounds for the logging cost "
        f"({COST_SECONDS} s each; default {FULL['cost_rounds']})",
    )
    p.add_argument("--connections", default="1,16", help="comma-separated wrk connection counts")
    p.add_argument(
        "--latency-seconds",
        type=float,
        help=f"seconds of each latency-client run (default {FULL['latency_seconds']})",
    )
    p.add_argument(
        "--latency-connections",
        type=int,
        default=8,
        help="connections of the latency client (default 8)",
    )
    p.add_argument("--rf-trees", type=int, default=200, help="trees of the rf model (default 200)")
    p.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results.md", help="Markdown report"
    )
    p.add_argument(
        "--raw-dir", type=Path, help="wrk outputs (default: results/<time> beside --output)"
    )
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    args.connections = sorted({int(c) for c in args.connections.split(",")})
    if not set(args.models) <= {"logreg", "rf"} or not args.models:
        build_parser().error("--models: choose from logreg, rf")
    counts = (args.rounds, args.duration, args.cold_starts, args.cost_rounds, *args.connections)
    if min(*counts, args.latency_connections, args.latency_seconds) < 1:
        build_parser().error(
            "--rounds, --duration, --cold-starts, --cost-rounds, --connections, "
            "--latency-seconds and --latency-connections must be >= 1"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.raw_dir = args.raw_dir or args.output.parent / "results" / stamp
    return args


@dataclass
class Results:
    """Everything measured, over all models."""

    summaries: list[Summary] = field(default_factory=list)
    cold: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    costs: dict[str, list[float]] = field(default_factory=dict)
    latencies: list[Latency] = field(default_factory=list)


def bench_model(
    model: servers.Trained,
    work: Path,
    plan: Plan,
    bodies: dict[str, Path],
    args: argparse.Namespace,
    results: Results,
) -> None:
    """Start petalflow (log on and off), mlflow and the floor; drive them; stop them."""
    running: dict[str, servers.Server] = {}

    def start(key: str, spec: servers.ServerSpec) -> None:
        running[key] = servers.Server(spec, work / "logs" / f"{model.name}-{spec.name}.log")

    try:
        start("pf", servers.petalflow_spec(work, model))  # started together, awaited in turn
        start("pf_nolog", servers.petalflow_spec(work, model, prediction_log=False))
        start("mlflow", servers.mlflow_spec(work, model))
        running["pf"].wait_healthy()
        status, body = servers.post(running["pf"].url + "/predict", bodies["predict"].read_bytes())
        if status != 200:
            raise BenchError(f"petalflow /predict answered {status}: {body[:300]!r}")
        floor_body = work / f"floor-{model.name}.json"
        floor_body.write_bytes(body)  # a real response: the floor returns the same bytes
        start("floor", servers.floor_spec(work, floor_body))
        for server in running.values():
            server.wait_healthy()
        conns = args.connections
        groups = scenarios(model.name, conns)
        check_servers(running, bodies, [cell for group in groups for cell in group])
        results.summaries += run_rounds(plan, running, bodies, groups)
        cells = [c for group in groups for c in group if c.test == SINGLE]
        pf, nolog = (
            next(c for c in cells if c.key == key and c.connections == max(conns))
            for key in ("pf", "pf_nolog")
        )
        results.costs[model.name] = paired_ratios(
            plan, running, bodies, (pf, nolog), args.cost_rounds, COST_SECONDS
        )
        results.latencies += latency_runs(
            running,
            bodies,
            model.name,
            args.latency_connections,
            args.latency_seconds,
            plan.raw_dir,
        )
    finally:
        for server in reversed(running.values()):
            server.stop()


def measure(args: argparse.Namespace, wrk: str, work: Path) -> Results:
    plan = Plan(wrk, args.rounds, args.duration, args.warmup, args.raw_dir)
    bodies = write_bodies(work / "bodies")
    (work / "logs").mkdir()
    results = Results()
    for name in args.models:
        extra = ("--model", "rf", "--n-estimators", str(args.rf_trees)) if name == "rf" else ()
        print(f"training {name} ...", flush=True)
        model = servers.train(work, name, *extra)
        print(f"cold starts of {name} ({args.cold_starts} each) ...", flush=True)
        specs = [servers.petalflow_spec(work, model), servers.mlflow_spec(work, model)]
        results.cold[name] = cold_starts(specs, work / "logs" / name, args.cold_starts)
        print(f"benchmarking {name} ...", flush=True)
        bench_model(model, work, plan, bodies, args, results)
    return results


def render(args: argparse.Namespace, header_lines: list[str], results: Results) -> str:
    conns, lat = max(args.connections), args.latency_connections
    found = goals(
        results.summaries,
        results.cold,
        results.costs,
        results.latencies,
        conns=conns,
        latency_conns=lat,
    )
    lines = [
        "# petalflow benchmark",
        "",
        *header_lines,
        "",
        f"## Goals ({conns} connections and 1 worker unless stated)",
        "",
        *goals_table(found),
        "",
        "## Measurements (wrk)",
        "",
        *report.measurements(results.summaries),
        "",
        f"## Latency (bench/latency.py, {lat} connections, {args.latency_seconds:g} s per server)",
        "",
        *report.latency_table(results.latencies),
        "",
        "## Cold start (process start to the first 200 from /health or /ping)",
        "",
        *report.cold_table(results.cold),
        "",
        f"## Prediction log + metrics cost (paired rounds, {conns} connections)",
        "",
        *report.cost_table(results.costs, COST_SECONDS, results.summaries, conns),
        "",
    ]
    return "\n".join(lines)


def _terminate(signum: int, _frame: object) -> None:
    # Unwind normally, so that every server is stopped and the temporary folder removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    wrk = ensure_wrk()
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="petalflow-bench-") as tmp:
            results = measure(args, wrk, Path(tmp))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    lines = report.header(args, argv, wrk, time.monotonic() - began, COST_SECONDS)
    text = render(args, lines, results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}; raw wrk and latency output in {args.raw_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
