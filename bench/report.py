"""The Markdown report: machine, command, measurements, ratios and goals."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from bench import servers
from bench.goals import get, ratio_of
from bench.peers import CONTENT, PEERS
from bench.suite import BATCH, SINGLE, Cell, Latency, Summary, batch_cost_rounds

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("fastapi", "starlette", "uvicorn", "pydantic", "numpy", "scikit-learn", "mlflow")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return f"{kib / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    words = (done.stdout or done.stderr).split()
    return words[1] if len(words) > 1 else "unknown"


def machine(wrk: str | None, libraries: tuple[str, ...] = LIBRARIES) -> list[str]:
    """Lines describing where and with what the figures were taken (wrk's version too,
    when it was used)."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in libraries)
    tools = f"; wrk {_wrk_version(wrk)}" if wrk else ""
    return [
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {os.cpu_count()} CPUs ({_cpu_model()}), {_memory_gib()} memory, "
        f"{platform.system()} {platform.release()}; load average at the end "
        f"(1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Python {platform.python_version()}; {versions}{tools}",
    ]


def command_line(argv: list[str], script: str = "bench/run.py") -> str:
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    return shlex.join([str(shown), script, *argv])


def header(
    args: argparse.Namespace, argv: list[str], wrk: str, elapsed: float, cost_seconds: float
) -> list[str]:
    """Where, how and with what the figures were taken."""
    conns = max(args.connections)
    raw = args.raw_dir.resolve()
    raw_shown = raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw
    models = ", ".join(
        f"rf ({args.rf_trees} trees)" if m == "rf" else "logreg (train.py defaults)"
        for m in args.models
    )
    return [
        *machine(wrk),
        f"- Command: `{command_line(argv)}` (from the repository root; "
        f"took {elapsed / 60:.1f} min)",
        "- Method: every server runs one uvicorn worker on 127.0.0.1 (petalflow with the "
        f"shipped flags `{' '.join(servers.shipped_limits())}`); wrk drives it with "
        "POST bodies (bench/post.lua), `-t1 -c1` at 1 connection and `-t2 -cN` above, "
        f"{args.rounds} interleaved round(s) (A/B/C/A/B/C) of {args.duration} s per cell "
        f"after {args.warmup} s of warm-up; figures are medians over rounds. The logging "
        f"cost goals use {args.cost_rounds} extra back-to-back pairs of {cost_seconds:g} s "
        f"on single rows and {batch_cost_rounds(args.cost_rounds)} on columnar 1,000-row batches "
        "(log on / log off, order alternating): 1 - the median of the per-pair ratios. wrk runs on "
        f"the same {os.cpu_count()} cores as the server under test, so req/s at {conns} "
        "connections are partly client-bound: compare ratios, not absolute figures.",
        f"- Latency: wrk's own percentiles are kept in the wrk table for reference only (its "
        "per-request times need not add up to the run). The latency goals come from "
        f"bench/latency.py, one {args.latency_seconds:g} s run per server after the wrk "
        f"runs: {args.latency_connections} closed-loop keep-alive connections in one "
        "process (one poll loop, GC off), each request timed with perf_counter_ns from its "
        "send to the last byte of its response; p50 and p99 are nearest-rank over every "
        "request of the run, max is the slowest. Time covered = the sum of the request "
        "times over connections x run time: at most 1, near 1 when nothing is left out.",
        f"- Models: {models}. Single row: petalflow and the floor get `POST /predict` with "
        "one flower; mlflow gets `POST /invocations` with that row as `dataframe_records`. "
        "Batches: 1,000 rows as `dataframe_records` to /invocations, as `instances` to "
        "/predict/batch. The floor (bench/floor.py) returns a petalflow /predict response "
        "verbatim from a FastAPI route.",
        *(
            [
                "- Penguins case (models `penguins-logreg`, `penguins-rf`: the same models "
                "trained with `--dataset penguins`, categories and gaps): petalflow (log on) "
                "and mlflow only, the same cells with the table's first penguin as the single "
                "row and 1,000 rows drawn from the table (36 with a null) as batches; mlflow "
                "gets them as `dataframe_records`."
            ]
            if "penguins" in args.datasets
            else []
        ),
        *(peer_method(args.peers, args.peers_venv_dir) if args.peers else []),
        "- petalflow writes its prediction log (SQLite, in the temporary folder) and "
        'metrics, unless marked "log off" (PREDICTION_LOG=""). Raw wrk and latency output: '
        f"`{raw_shown}/`.",
    ]


def peer_method(keys: tuple[str, ...], venv_root: Path) -> list[str]:
    """How the peers were run: versions, settings, bodies."""
    pins = "; ".join(f"{PEERS[k].label}: {', '.join(PEERS[k].pins())}" for k in keys)
    return [
        "- Peers (Iris models only; one worker each, 127.0.0.1, their own venvs under "
        f"`{venv_root}`: {pins}). MLServer: `mlserver start` with the scikit-learn runtime "
        "on the same model.joblib, `parallel_workers: 0`, adaptive batching off, its other "
        "settings default (its access log on, like petalflow's); V2 `POST "
        "/v2/models/iris/infer` with one FP64 tensor [rows, 4] and `outputs: "
        '[{"name": "predict_proba"}]`. BentoML: `bentoml serve` of bench/bento_iris.py '
        "(`@bentoml.service`, one worker), `POST /predict` with petalflow's /predict body and "
        "`POST /predict_batch` with petalflow's `instances` body. Before the rounds each "
        "peer's 1,000-row answer is checked against petalflow's /predict/batch: every "
        "probability within 1e-9, the same labels (MLServer: its most probable class).",
    ]


def _ratio(value: float, other: float | None) -> str:
    return f"{value / other:.2f}x" if other else ""


def measurements(summaries: list[Summary]) -> list[str]:
    """One row per cell; petalflow rows carry their ratio to mlflow and to the floor."""
    lines = [
        "| Model | Test | Conns | Server | Req/s | Rows/s | wrk p50 ms | wrk p99 ms | Errors "
        "| vs mlflow | vs floor |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    by_key = {(s.cell.model, s.cell.test, s.cell.connections, s.cell.key): s for s in summaries}
    for s in summaries:
        c = s.cell
        ratios = ["", ""]
        if c.key.startswith("pf"):
            for i, other in enumerate(("mlflow", "floor")):
                found = by_key.get((c.model, c.test, c.connections, other))
                ratios[i] = _ratio(s.rps, found.rps if found else None)
        lines.append(
            f"| {c.model} | {c.test} | {c.connections} | {c.label} | {s.rps:,.0f} "
            f"| {s.rows_per_s:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.errors} "
            f"| {ratios[0]} | {ratios[1]} |"
        )
    return lines


def cold_table(cold: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = [
        "| Model | petalflow s (median) | mlflow s (median) | petalflow / mlflow | starts |",
        "|---|--:|--:|--:|--:|",
    ]
    for model, times in cold.items():
        ours, theirs = (statistics.median(times[k]) for k in ("petalflow", "mlflow"))
        lines.append(
            f"| {model} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} "
            f"| {len(times['petalflow'])} |"
        )
    return lines


def cost_table(
    costs: dict[str, list[float]],
    batch_costs: dict[str, list[float]],
    seconds: float,
    summaries: list[Summary],
    conns: int,
) -> list[str]:
    """The paired log on/off rounds (the cost the goal uses, its spread, its middle half):
    on single rows, beside the same cost from the interleaved cells' medians (a second
    estimate), and on columnar 1,000-row batches (no interleaved log-off cell)."""
    lines = [
        "| Model | Test | pairs | cost (1 - median of log-on/log-off req/s) | middle half | "
        "per-pair range | from the interleaved cells |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    rows = [(m, "single row, `/predict`", r, True) for m, r in costs.items()]
    rows += [(m, "1,000-row batch, columnar", r, False) for m, r in batch_costs.items()]
    for model, test, ratios, interleaved in rows:
        if not ratios:
            continue
        pct = sorted((1 - r) * 100 for r in ratios)
        quartiles = statistics.quantiles(pct, n=4) if len(pct) > 1 else [pct[0]] * 3
        ratio = None
        if interleaved:
            pf, nolog = (get(summaries, model, SINGLE, conns, k) for k in ("pf", "pf_nolog"))
            ratio = ratio_of(pf, nolog)
        cells = "n/a" if ratio is None else f"{(1 - ratio) * 100:.1f}%"
        lines.append(
            f"| {model} | {test} | {len(ratios)} x {seconds:g} s | "
            f"{(1 - statistics.median(ratios)) * 100:.1f}% | "
            f"{quartiles[0]:.1f}% to {quartiles[2]:.1f}% | "
            f"{pct[0]:.1f}% to {pct[-1]:.1f}% | {cells} |"
        )
    return lines


def latency_table(latencies: list[Latency]) -> list[str]:
    """The latency client's runs: percentiles and maximum over every request of a run,
    and the share of the run its request times cover (the client's self-check)."""
    lines = [
        "| Model | Conns | Server | Requests | Req/s | p50 ms | p99 ms | max ms "
        "| time covered (lowest conn) | Errors |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for x in latencies:
        r = x.result
        lines.append(
            f"| {x.model} | {x.connections} | {x.label} | {r.requests:,} | {r.rps:,.0f} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.2f} "
            f"| {r.coverage:.3f} ({r.min_coverage:.3f}) | {r.errors} |"
        )
    return lines


def peers_table(summaries: list[Summary]) -> list[str]:
    """Every peer cell beside petalflow's cell of the same test and connection count
    (log on): single rows in req/s (/predict), batches in rows/s (/predict/batch, in
    the peer's body form)."""
    lines = [
        "| Model | Test | Conns | Peer | petalflow | peer | petalflow / peer |",
        "|---|---|--:|---|--:|--:|--:|",
    ]
    for s in summaries:
        c = s.cell
        if c.key not in PEERS:
            continue
        ours = get(summaries, c.model, c.test, c.connections, _ours(c))
        unit, attr = ("rows/s", "rows_per_s") if c.test == BATCH else ("req/s", "rps")
        shown = f"{getattr(ours, attr):,.0f} {unit}" if ours else "n/a"
        ratio = ratio_of(ours, s, attr)
        lines.append(
            f"| {c.model} | {c.test} | {c.connections} | {c.label} | {shown} "
            f"| {getattr(s, attr):,.0f} {unit} | {'n/a' if ratio is None else f'{ratio:.2f}x'} |"
        )
    return lines


def _ours(peer: Cell) -> str:
    """petalflow's cell beside a peer's: /predict for single rows; for batches the form
    of the peer's body (MLServer's column-major tensor, BentoML's rows)."""
    if peer.test != BATCH:
        return "pf"
    return "pf_columnar" if peer.key == "mlserver" else "pf_batch"


def _content_key(cell: Cell) -> str:
    if cell.path == "/invocations":  # petalflow's too: the MLflow scoring protocol
        return "mlflow"
    if cell.key == "pf_columnar":
        return cell.key
    if cell.key.startswith("pf"):
        return "pf_batch" if cell.path == "/predict/batch" else "pf"
    return cell.key


def sizes_table(sizes: dict[Cell, tuple[int, int]]) -> list[str]:
    """The bytes of one request and its response per server and test (one connection
    count: the bodies do not depend on it), and what each response holds."""
    lines = [
        "| Model | Test | Server | request bytes | response bytes | the response holds |",
        "|---|---|---|--:|--:|---|",
    ]
    seen = set()
    for cell, (request, response) in sizes.items():
        if (cell.model, cell.test, cell.key, cell.path) in seen:
            continue
        seen.add((cell.model, cell.test, cell.key, cell.path))
        lines.append(
            f"| {cell.model} | {cell.test} | {cell.label} | {request:,} | {response:,} "
            f"| {CONTENT[_content_key(cell)]} |"
        )
    return lines
