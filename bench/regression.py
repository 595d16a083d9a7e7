"""A/B: this checkout's petalflow against an earlier commit's, same model, same bodies.

`make bench-regression` answers "did a change cost throughput?" for one endpoint at a
time. Issue #17 (point 4) asks it of single-row /invocations: the MLflow-compatible
scoring protocol must not make it slower than before. The base commit is checked out into
a temporary git worktree; each checkout trains its own model with its own train.py (same
arguments, so the same pipeline) and serves it as `make serve` does, prediction log on;
wrk drives both in interleaved rounds (bench/suite.py), and the report gives each cell's
median req/s and the ratio current / base.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, servers
from bench.loadgen import BenchError, ensure_wrk
from bench.payloads import write_bodies
from bench.suite import SINGLE, Cell, Plan, Summary, check_servers, run_rounds

ROOT = servers.ROOT
# main just before issue #17 rewrote /invocations (the MLflow scoring protocol).
DEFAULT_BASE = "8f90126"
ENDPOINTS = {"/invocations": "records_1", "/predict": "predict"}
GOAL = 0.95  # current / base at the most connections: "no regression" within the noise


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--base", default=DEFAULT_BASE, help=f"commit to compare with ({DEFAULT_BASE})")
    p.add_argument("--models", default="logreg,rf", help="comma-separated: logreg,rf")
    p.add_argument("--paths", default="/invocations,/predict", help="single-row endpoints")
    p.add_argument("--connections", default="1,16", help="comma-separated wrk connections")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per cell")
    p.add_argument("--output", type=Path, default=ROOT / "bench" / "regression_results.md")
    return p


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _subject(commit: str) -> str:
    try:
        return _git("log", "-1", "--format=%s", commit)[:100]
    except BenchError:  # a shallow clone: the commit is named, not described
        return "not in this clone"


def _cells(model: str, paths: list[str], connections: list[int]) -> list[list[Cell]]:
    return [
        [Cell(model, SINGLE, c, key, path, ENDPOINTS[path]) for key in ("pf", "pf_base")]
        for path in paths
        for c in connections
    ]


def bench_model(
    name: str, work: Path, base: Path, plan: Plan, args: argparse.Namespace
) -> list[Summary]:
    """Train ``name`` with each checkout, serve both, drive every cell."""
    extra = ("--model", "rf") if name == "rf" else ()
    print(f"training {name} with each checkout ...", flush=True)
    models = {
        "pf": servers.train(work, f"{name}-current", *extra),
        "pf_base": servers.train(work, f"{name}-base", *extra, root=base),
    }
    bodies = write_bodies(work / "bodies")
    running: dict[str, servers.Server] = {}
    try:
        for key, root in (("pf", ROOT), ("pf_base", base)):
            spec = servers.petalflow_spec(work, models[key], root=root)
            running[key] = servers.Server(spec, work / "logs" / f"{name}-{key}.log")
        for server in running.values():
            server.wait_ready()
        groups = _cells(name, args.paths, args.connections)
        check_servers(running, bodies, [cell for group in groups for cell in group])
        for path, body in ((p, ENDPOINTS[p]) for p in args.paths):
            answers = {
                k: servers.post(s.url + path, bodies[body].read_bytes())[1]
                for k, s in running.items()
            }
            if len(set(answers.values())) != 1 and path == "/invocations":
                raise BenchError(f"the two checkouts answer {path} differently: {answers}")
        return run_rounds(plan, running, bodies, groups)
    finally:
        for server in running.values():
            server.stop()


def render(
    summaries: list[Summary], args: argparse.Namespace, wrk: str, minutes: float
) -> tuple[str, bool]:
    """The Markdown report (machine, command, one row per cell, the goal) and whether a
    goal failed."""
    lines = ["# petalflow A/B against an earlier commit", "", *report.machine(wrk)]
    command = " ".join(sys.argv[1:]) or "(defaults)"
    lines += [
        f"- Base: `{args.base}` ({_subject(args.base)})",
        f"- Current: `{_git('rev-parse', '--short', 'HEAD')}`",
        f"- Command: `bench/regression.py {command}` ({minutes:.1f} min); "
        f"{args.rounds} interleaved rounds of {args.duration:g} s per cell, median req/s; "
        "one uvicorn worker each, prediction log on, loopback",
        "",
        "| Model | Endpoint | Connections | Base req/s | Current req/s | Current / base "
        "| Goal | Result |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    by_cell = {(s.cell.model, s.cell.path, s.cell.connections, s.cell.key): s for s in summaries}
    failed = False
    for (model, path, conns, key), summary in by_cell.items():
        if key != "pf":
            continue
        base = by_cell[(model, path, conns, "pf_base")]
        ratio = summary.rps / base.rps
        goal = conns == max(args.connections)
        verdict = ("PASS" if ratio >= GOAL else "FAIL") if goal else ""
        failed |= verdict == "FAIL"
        lines.append(
            f"| {model} | {path} | {conns} | {base.rps:,.0f} | {summary.rps:,.0f} "
            f"| {ratio:.3f}x | {f'>= {GOAL}x' if goal else ''} | {verdict} |"
        )
    lines += [
        "",
        f"Errors (non-2xx or socket) over all rounds: {sum(s.errors for s in summaries)}.",
        "",
    ]
    return "\n".join(lines), failed


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.models = args.models.split(",")
    args.paths = args.paths.split(",")
    args.connections = [int(c) for c in args.connections.split(",")]
    unknown = sorted(set(args.paths) - set(ENDPOINTS))
    if unknown or not set(args.models) <= {"logreg", "rf"}:
        print(f"unknown path or model: {unknown or args.models}", file=sys.stderr)
        return 2
    wrk = ensure_wrk()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="petalflow-ab-") as tmp:
        work = Path(tmp)
        base = work / "base"
        _git("worktree", "add", "--detach", str(base), args.base)
        try:
            plan = Plan(wrk, args.rounds, args.duration, args.warmup, work / "raw")
            summaries = [
                s for name in args.models for s in bench_model(name, work, base, plan, args)
            ]
        finally:
            _git("worktree", "remove", "--force", str(base))
    text, failed = render(summaries, args, wrk, (time.monotonic() - started) / 60)
    args.output.write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
