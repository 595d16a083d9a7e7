"""What is measured: the cells of each model, interleaved rounds, cold starts."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.latency import LatencyResult, measure, summary
from bench.loadgen import BenchError, WrkResult, run_wrk
from bench.peers import INFER_PATH, PEERS, batch_outcomes, check_agreement
from bench.servers import Server, ServerSpec, post

SINGLE, BATCH = "single row", "1,000-row batch"
PAUSE_SECONDS = 1.0  # after every wrk run: more than the prediction log's 0.25 s linger
LABELS = {
    "pf": "petalflow",
    "pf_nolog": "petalflow, log off",
    "pf_batch": "petalflow",
    "pf_base": "petalflow at base",
    "pf_shadow": "petalflow with a shadow",
    "pf_columnar": "petalflow, columnar",
    "pf_nolog_columnar": "petalflow, log off, columnar",
    "mlflow": "mlflow",
    "floor": "FastAPI floor",
    **{key: peer.label for key, peer in PEERS.items()},
}
# Cells that drive another endpoint or body of a server keyed otherwise.
_SERVER_OF = {"pf_batch": "pf", "pf_columnar": "pf", "pf_nolog_columnar": "pf_nolog"}
LATENCY_KEYS = ("pf", "pf_nolog", "floor")  # the servers the latency client measures


def case_name(dataset: str, model: str) -> str:
    """How a model is named in cells and reports: ``logreg`` (Iris), ``penguins-logreg``."""
    return model if dataset == "iris" else f"{dataset}-{model}"


@dataclass(frozen=True)
class Cell:
    """One server, endpoint and body at one connection count."""

    model: str
    test: str
    connections: int
    key: str  # which server: pf, pf_nolog, mlflow, floor, pf_base (pf_batch: pf's batch)
    path: str
    body: str
    rows: int = 1

    @property
    def server(self) -> str:
        return _SERVER_OF.get(self.key, self.key)

    @property
    def label(self) -> str:
        return f"{LABELS[self.key]} {self.path}"

    @property
    def slug(self) -> str:
        return (
            f"{self.model}-{self.key}-{self.path.strip('/').replace('/', '_')}-c{self.connections}"
        )


@dataclass(frozen=True)
class Summary:
    """The median over rounds of one cell."""

    cell: Cell
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rounds: int

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.cell.rows


def peer_cells(model: str, peers: tuple[str, ...], connections: list[int]) -> list[Cell]:
    """The peers' cells (issue #16): single rows at every connection count, 1,000-row
    batches at the highest; MLServer through the V2 protocol, BentoML with petalflow's
    bodies."""
    c = max(connections)
    cells = []
    for key in peers:
        single, batch = (
            ((INFER_PATH, "v2_1"), (INFER_PATH, "v2_1000"))
            if key == "mlserver"
            else (("/predict", "predict"), ("/predict_batch", "instances_1000"))
        )
        cells += [Cell(model, SINGLE, n, key, *single) for n in connections]
        cells.append(Cell(model, BATCH, c, key, *batch, 1000))
    return cells


def scenarios(
    model: str,
    connections: list[int],
    bodies: str = "",
    full: bool = True,
    peers: tuple[str, ...] = (),
) -> list[list[Cell]]:
    """Groups of cells run back to back (A/B/C) in every round; ``bodies`` prefixes the
    body names (``penguins_``). Without ``full`` (a penguins case): petalflow and mlflow
    only, no log-off or floor cells. ``peers`` join the group of their test and
    connection count."""
    extra = peer_cells(model, peers, connections)
    groups = []
    for c in connections:
        group = [Cell(model, SINGLE, c, "pf", "/predict", bodies + "predict")]
        if full and c == max(connections):
            group.append(Cell(model, SINGLE, c, "pf_nolog", "/predict", bodies + "predict"))
        group.append(Cell(model, SINGLE, c, "mlflow", "/invocations", bodies + "records_1"))
        if full:
            group.append(Cell(model, SINGLE, c, "floor", "/predict", bodies + "predict"))
        groups.append(group + [x for x in extra if (x.test, x.connections) == (SINGLE, c)])
    c = max(connections)
    records, instances = bodies + "records_1000", bodies + "instances_1000"
    groups.append(
        [
            Cell(model, BATCH, c, "pf", "/invocations", records, 1000),
            Cell(model, BATCH, c, "pf_batch", "/predict/batch", instances, 1000),
            Cell(model, BATCH, c, "pf_columnar", "/predict/batch", bodies + "columns_1000", 1000),
            Cell(model, BATCH, c, "mlflow", "/invocations", records, 1000),
            *(x for x in extra if x.test == BATCH),
        ]
    )
    return groups


def check_servers(
    servers: dict[str, Server], bodies: dict[str, Path], cells: list[Cell]
) -> dict[Cell, tuple[int, int]]:
    """Every cell answers 200 once; petalflow's and mlflow's batch predictions agree, and
    so do a peer's and petalflow's /predict/batch. The bytes of each cell's request and
    response body."""
    batch: dict[str, bytes] = {}
    sizes = {}
    for cell in cells:
        body = bodies[cell.body].read_bytes()
        status, content = post(servers[cell.server].url + cell.path, body)
        if status != 200:
            raise BenchError(f"{cell.label} answered {status}: {content[:500]!r}")
        sizes[cell] = (len(body), len(content))
        if cell.test == BATCH:
            batch[cell.key] = content
    ours, theirs = batch.get("pf"), batch.get("mlflow")
    if ours and theirs and json.loads(ours) != json.loads(theirs):
        raise BenchError("petalflow's and mlflow's /invocations predictions differ")
    if {"pf_batch", "pf_columnar"} <= batch.keys():
        rows, columnar = (batch_outcomes(k, batch[k]) for k in ("pf_batch", "pf_columnar"))
        if rows != columnar:
            raise BenchError("petalflow's columnar and row-form batch answers differ")
    for key in PEERS.keys() & batch.keys():
        check_agreement(batch["pf_batch"], batch[key], key)
    return sizes


def summarize(cell: Cell, results: list[WrkResult]) -> Summary:
    return Summary(
        cell=cell,
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        rounds=len(results),
    )


@dataclass(frozen=True)
class Plan:
    """How long and how often each cell is driven."""

    wrk: str
    rounds: int
    seconds: float
    warmup: float
    raw_dir: Path


def run_rounds(
    plan: Plan, servers: dict[str, Server], bodies: dict[str, Path], groups: list[list[Cell]]
) -> list[Summary]:
    """Warm every cell up, then rounds of A/B/C per group; the median of each cell."""

    def drive(cell: Cell, seconds: float, tag: str) -> WrkResult:
        return _drive(plan, servers, bodies, cell, seconds, tag)

    cells = [cell for group in groups for cell in group]
    if plan.warmup > 0:
        for cell in cells:
            drive(cell, plan.warmup, "warmup")
    results: dict[Cell, list[WrkResult]] = {cell: [] for cell in cells}
    for n in range(1, plan.rounds + 1):
        for group in groups:
            for cell in group:
                result = drive(cell, plan.seconds, f"round{n}")
                results[cell].append(result)
                print(
                    f"  round {n}/{plan.rounds} {cell.model:6} c{cell.connections:<3} "
                    f"{cell.label:34} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms",
                    flush=True,
                )
    return [summarize(cell, results[cell]) for cell in cells]


def _drive(
    plan: Plan,
    servers: dict[str, Server],
    bodies: dict[str, Path],
    cell: Cell,
    seconds: float,
    tag: str,
) -> WrkResult:
    """One wrk run, then a pause, so that work a server defers (the prediction log's last
    drain) does not land in the next run, whichever server that is."""
    url = servers[cell.server].url + cell.path
    raw = plan.raw_dir / f"{cell.slug}-{tag}.txt"
    result = run_wrk(plan.wrk, url, bodies[cell.body], cell.connections, seconds, raw)
    time.sleep(PAUSE_SECONDS)
    return result


def batch_cost_rounds(cost_rounds: int) -> int:
    """The paired rounds on columnar 1,000-row batches: half the single-row pairs (a
    batch's log cost is larger, so less drowned by drift)."""
    return max(1, cost_rounds // 2)


def paired_ratios(
    plan: Plan,
    servers: dict[str, Server],
    bodies: dict[str, Path],
    pair: tuple[Cell, Cell],
    rounds: int,
    seconds: float,
) -> list[float]:
    """req/s of pair[0] over pair[1] in back-to-back runs, one ratio per round.

    A small difference (the prediction log's cost) drowns in this machine's drift between
    rounds of a few seconds; the ratio within a pair cancels most of it, and the order
    alternates so that neither side always runs first.
    """
    ratios = []
    for n in range(1, rounds + 1):
        order = pair if n % 2 else pair[::-1]
        got = {}
        for cell in order:
            got[cell] = result = _drive(plan, servers, bodies, cell, seconds, f"pair{n}")
            if result.errors or not result.rps:
                raise BenchError(f"{cell.label}: {result.errors} errors, {result.rps} req/s")
        ratios.append(got[pair[0]].rps / got[pair[1]].rps)
        print(
            f"  pair {n}/{rounds} {pair[0].model:6} {pair[0].label} / {pair[1].label}: "
            f"{ratios[-1]:.3f}",
            flush=True,
        )
    return ratios


@dataclass(frozen=True)
class Latency:
    """One latency-client run: one server's /predict at one connection count."""

    model: str
    key: str
    connections: int
    result: LatencyResult

    @property
    def label(self) -> str:
        return f"{LABELS[self.key]} /predict"


def latency_runs(
    servers: dict[str, Server],
    bodies: dict[str, Path],
    model: str,
    connections: int,
    seconds: float,
    raw_dir: Path,
) -> list[Latency]:
    """One run of the latency client per server in LATENCY_KEYS, each followed by the
    pause; its figures, per connection too, are saved beside wrk's raw output."""
    body = bodies["predict"].read_bytes()
    runs = []
    for key in LATENCY_KEYS:
        result = measure(servers[key].url + "/predict", body, connections, seconds)
        if result.errors:
            raise BenchError(f"{LABELS[key]}: {result.errors} responses other than 200")
        runs.append(run := Latency(model, key, connections, result))
        per_connection = [
            {"requests": len(ts), "coverage": round(sum(ts) / span, 4)}
            for ts, span in zip(result.times_ns, result.spans_ns, strict=True)
        ]
        raw = raw_dir / f"{model}-{key}-latency-c{connections}.json"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps({**summary(result), "connections": per_connection}, indent=1))
        print(
            f"  latency {model:6} c{connections:<3} {run.label:34} p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  max {result.max_ms:7.2f} ms  "
            f"covered {result.coverage:.3f}",
            flush=True,
        )
        time.sleep(PAUSE_SECONDS)
    return runs


def cold_starts(specs: list[ServerSpec], logs: Path, repeats: int) -> dict[str, list[float]]:
    """Seconds from process start to the first 200 of its health check, interleaved."""
    times: dict[str, list[float]] = {spec.name: [] for spec in specs}
    for n in range(repeats):
        for spec in specs:
            with Server(spec, logs / f"cold-{spec.name}-{n}.log") as server:
                times[spec.name].append(server.wait_healthy())
    return times
