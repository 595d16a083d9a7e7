"""Benchmark petalflow beside `mlflow models serve` and the FastAPI floor: `make bench`.

Trains logreg and rf into a temporary folder (temporary MLflow store too), starts each
server with one uvicorn worker on loopback, drives them with wrk in interleaved rounds
(throughput) and with bench/latency.py (p50, p99, maximum), and writes a Markdown report
(bench/results.md by default; raw outputs under bench/results/). `--quick` is the smoke
test: logreg only, one short round.

In the full run MLServer and BentoML (bench/peers.py) serve the Iris models beside
petalflow, each from its own venv built once and cached (`--peers`, `--peers-venv-dir`);
`--quick` leaves them out.

The penguins case (issue #13: a table with categories and gaps) trains the same models
with `--dataset penguins` and drives petalflow and mlflow on them with penguins rows
(single-row and 1,000-row batches, nulls included); `--datasets` picks the cases.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lifecycle, report, servers
from bench.cases import COST_SECONDS, Results, measure
from bench.goals import goals, goals_table, lifecycle_goals, peer_goals, penguin_goals
from bench.loadgen import BenchError, ensure_wrk
from bench.peers import PEERS, default_venv_root

ROOT = servers.ROOT
DATASETS = ("iris", "penguins")
QUICK = {
    "datasets": "iris",
    "models": "logreg",
    "rounds": 1,
    "duration": 2,
    "warmup": 0,
    "cold_starts": 1,
    "cost_rounds": 2,
    "latency_seconds": 2,
    "peers": "none",
}
FULL = {
    "datasets": "iris,penguins",
    "models": "logreg,rf",
    "rounds": 3,
    "duration": 4,
    "warmup": 1,
    "cold_starts": 3,
    "cost_rounds": 24,
    "latency_seconds": 10,
    "peers": ",".join(PEERS),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke test: logreg, 1 round of 2 s, 1 cold start"
    )
    p.add_argument("--models", help=f"comma-separated: logreg,rf (default {FULL['models']})")
    p.add_argument(
        "--datasets",
        help=f"comma-separated: {','.join(DATASETS)} (default {FULL['datasets']}; "
        f"--quick: {QUICK['datasets']})",
    )
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
    p.add_argument(
        "--peers",
        help=f"comma-separated peers on the Iris models: {','.join(PEERS)}, or none "
        f"(default {FULL['peers']}; --quick: none)",
    )
    p.add_argument(
        "--peers-venv-dir",
        type=Path,
        default=default_venv_root(),
        help="where the peers' venvs are built once and reused "
        "(default %(default)s: $XDG_CACHE_HOME or ~/.cache)",
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
    args.datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    args.connections = sorted({int(c) for c in args.connections.split(",")})
    args.peers = tuple(x.strip() for x in args.peers.split(",") if x.strip() not in ("", "none"))
    if not set(args.peers) <= PEERS.keys():
        build_parser().error(f"--peers: choose from {', '.join(PEERS)}, or none")
    if not set(args.models) <= {"logreg", "rf"} or not args.models:
        build_parser().error("--models: choose from logreg, rf")
    if not set(args.datasets) <= set(DATASETS) or not args.datasets:
        build_parser().error(f"--datasets: choose from {', '.join(DATASETS)}")
    if "iris" not in args.datasets:  # the peers serve the Iris models only
        args.peers = ()
    counts = (args.rounds, args.duration, args.cold_starts, args.cost_rounds, *args.connections)
    if min(*counts, args.latency_connections, args.latency_seconds) < 1:
        build_parser().error(
            "--rounds, --duration, --cold-starts, --cost-rounds, --connections, "
            "--latency-seconds and --latency-connections must be >= 1"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.raw_dir = args.raw_dir or args.output.parent / "results" / stamp
    return args


def render(args: argparse.Namespace, header_lines: list[str], results: Results) -> str:
    conns, lat = max(args.connections), args.latency_connections
    iris = "iris" in args.datasets
    found = (
        goals(
            results.summaries,
            results.cold,
            results.costs,
            results.latencies,
            conns=conns,
            latency_conns=lat,
            batch_costs=results.batch_costs,
        )
        if iris
        else []
    )
    if iris:
        found += lifecycle_goals(results.summaries, results.reloads, conns=conns, latency_conns=lat)
    if "mlserver" in args.peers:
        found += peer_goals(results.summaries, conns=conns)
    if "penguins" in args.datasets:
        found += penguin_goals(results.summaries, conns=conns)
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
    ]
    if iris:  # the latency client, cold starts and the logging cost measure Iris's models
        lines += [
            f"## Latency (bench/latency.py, {lat} connections, "
            f"{args.latency_seconds:g} s per server)",
            "",
            *report.latency_table(results.latencies),
            "",
            "## Cold start (process start to the first 200 from /health or /ping)",
            "",
            *report.cold_table(results.cold),
            "",
            f"## Prediction log + metrics cost (paired rounds, {conns} connections)",
            "",
            *report.cost_table(
                results.costs, results.batch_costs, COST_SECONDS, results.summaries, conns
            ),
            "",
            f"## Serving lifecycle (reloads every {lifecycle.RELOAD_EVERY:g} s; a shadow)",
            "",
            *lifecycle.reload_table(results.reloads),
            "",
            "The reload server follows `models:/bench-<model>@champion`; the bench moves the "
            "alias between two versions and calls `POST /admin/reload` (download, load, "
            "verification, warm-up, swap) while the latency client runs. The shadowed server "
            "scores every request a second time with a copy of its model (`SHADOW_SAMPLE=1`); "
            "its /predict cell is in the wrk measurements (petalflow with a shadow).",
            "",
        ]
    if args.peers:
        lines += [
            "## Peers (petalflow, log on, / peer on the same rows)",
            "",
            *report.peers_table(results.summaries),
            "",
            "Like for like: BentoML returns what petalflow returns (label and named "
            "probabilities per row; not petalflow's model_version and latency_ms) from the "
            "same bodies (petalflow's row form). MLServer gets a column-major tensor, and "
            "petalflow the same rows in its columnar form. MLServer returns the probabilities only, as an unnamed tensor: "
            "no labels (its scikit-learn runtime would add them as a second output, "
            "`predict`, at the cost of a second model call), so petalflow's batch answer "
            "carries more per row than MLServer's.",
            "",
        ]
    lines += [
        "## Bodies (bytes of one request and of its response)",
        "",
        *report.sizes_table(results.sizes),
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
