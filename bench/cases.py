"""The benchmark's cases: each trained model, the servers started for it, what is driven.

An Iris model gets every measurement (cold starts, wrk rounds against mlflow and the
floor, log-off cells, the paired logging-cost rounds, the latency client), and in the
full run the peers' cells too (MLServer, BentoML: bench/peers.py). A penguins
model (issue #13) gets the throughput cells against mlflow only, with penguins rows.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from bench import lifecycle, peers, servers
from bench.loadgen import BenchError
from bench.payloads import PENGUINS, write_bodies
from bench.suite import (
    SINGLE,
    Cell,
    Latency,
    Plan,
    Summary,
    batch_cost_rounds,
    case_name,
    check_servers,
    cold_starts,
    latency_runs,
    paired_ratios,
    run_rounds,
    scenarios,
)

COST_SECONDS = 2
PEER_SPECS = {"mlserver": peers.mlserver_spec, "bentoml": peers.bentoml_spec}


@dataclass
class Results:
    """Everything measured, over all models."""

    summaries: list[Summary] = field(default_factory=list)
    cold: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    costs: dict[str, list[float]] = field(default_factory=dict)
    batch_costs: dict[str, list[float]] = field(default_factory=dict)  # columnar batches
    latencies: list[Latency] = field(default_factory=list)
    sizes: dict[Cell, tuple[int, int]] = field(default_factory=dict)  # request, response bytes
    reloads: list[lifecycle.ReloadRun] = field(default_factory=list)


def _start_all(
    model: servers.Trained,
    work: Path,
    bodies: dict[str, Path],
    venvs: dict[str, Path],
    running: dict[str, servers.Server],
) -> str:
    """Start every server of an Iris case into ``running`` and wait for them; returns the
    registered name the reload server follows."""

    def start(key: str, spec: servers.ServerSpec) -> None:
        running[key] = servers.Server(spec, work / "logs" / f"{model.name}-{spec.name}.log")

    start("pf", servers.petalflow_spec(work, model))  # started together, awaited in turn
    start("pf_nolog", servers.petalflow_spec(work, model, prediction_log=False))
    start("mlflow", servers.mlflow_spec(work, model))
    start("pf_shadow", lifecycle.shadow_spec(work, model))
    registered = lifecycle.register(work, model)
    start("pf_reload", lifecycle.reload_spec(work, model, registered))
    for key, venv in venvs.items():
        start(key, PEER_SPECS[key](work, model, venv))
    running["pf"].wait_ready()
    status, body = servers.post(running["pf"].url + "/predict", bodies["predict"].read_bytes())
    if status != 200:
        raise BenchError(f"petalflow /predict answered {status}: {body[:300]!r}")
    floor_body = work / f"floor-{model.name}.json"
    floor_body.write_bytes(body)  # a real response: the floor returns the same bytes
    start("floor", servers.floor_spec(work, floor_body))
    for server in running.values():
        server.wait_ready()
    return registered


def bench_model(
    model: servers.Trained,
    work: Path,
    plan: Plan,
    bodies: dict[str, Path],
    args: argparse.Namespace,
    results: Results,
    venvs: dict[str, Path],
) -> None:
    """Start petalflow (log on and off, with a shadow, following an alias), mlflow, the
    floor and the peers whose venvs are in ``venvs``; drive them; stop them."""
    running: dict[str, servers.Server] = {}
    try:
        registered = _start_all(model, work, bodies, venvs, running)
        conns, lat, seconds = args.connections, args.latency_connections, args.latency_seconds
        groups = scenarios(model.name, conns, peers=tuple(venvs))
        lifecycle.add_shadow_cell(groups, model.name, max(conns))
        cells = [cell for group in groups for cell in group]
        results.sizes.update(check_servers(running, bodies, cells))
        results.summaries += run_rounds(plan, running, bodies, groups)
        pf, nolog = (
            next(c for c in cells if (c.key, c.test, c.connections) == (key, SINGLE, max(conns)))
            for key in ("pf", "pf_nolog")
        )
        results.costs[model.name] = paired_ratios(
            plan, running, bodies, (pf, nolog), args.cost_rounds, COST_SECONDS
        )
        columnar = next(c for c in cells if c.key == "pf_columnar")
        columnar_off = dataclasses.replace(columnar, key="pf_nolog_columnar")
        results.batch_costs[model.name] = paired_ratios(
            plan,
            running,
            bodies,
            (columnar, columnar_off),
            batch_cost_rounds(args.cost_rounds),
            COST_SECONDS,
        )
        results.latencies += latency_runs(running, bodies, model.name, lat, seconds, plan.raw_dir)
        body = bodies["predict"].read_bytes()
        results.reloads.append(
            lifecycle.reload_latency(
                running["pf_reload"], registered, body, model.name, lat, seconds, plan.raw_dir
            )
        )
    finally:
        for server in reversed(running.values()):
            server.stop()


def bench_penguins(
    model: servers.Trained,
    work: Path,
    plan: Plan,
    bodies: dict[str, Path],
    args: argparse.Namespace,
    results: Results,
) -> None:
    """The penguins case: petalflow (log on) and mlflow on the same model, penguins rows;
    throughput cells only (no floor, log-off, cost pairs, latency or cold starts)."""
    running: dict[str, servers.Server] = {}
    try:
        for key, spec in (
            ("pf", servers.petalflow_spec(work, model)),
            ("mlflow", servers.mlflow_spec(work, model)),
        ):
            log = work / "logs" / f"{model.name}-{spec.name}.log"
            running[key] = servers.Server(spec, log)
        for server in running.values():
            server.wait_ready()
        groups = scenarios(model.name, args.connections, PENGUINS, full=False)
        results.sizes.update(check_servers(running, bodies, [c for g in groups for c in g]))
        results.summaries += run_rounds(plan, running, bodies, groups)
    finally:
        for server in reversed(running.values()):
            server.stop()


def train_case(work: Path, dataset: str, name: str, args: argparse.Namespace) -> servers.Trained:
    extra = ("--model", "rf", "--n-estimators", str(args.rf_trees)) if name == "rf" else ()
    case = case_name(dataset, name)
    print(f"training {case} ...", flush=True)
    return servers.train(work, case, *extra, "--dataset", dataset)


def measure(args: argparse.Namespace, wrk: str, work: Path) -> Results:
    plan = Plan(wrk, args.rounds, args.duration, args.warmup, args.raw_dir)
    bodies = write_bodies(work / "bodies", penguins="penguins" in args.datasets)
    (work / "logs").mkdir()
    results = Results()
    venvs = {key: peers.ensure_venv(peers.PEERS[key], args.peers_venv_dir) for key in args.peers}
    for dataset in args.datasets:
        for name in args.models:
            model = train_case(work, dataset, name, args)
            if dataset == "penguins":
                print(f"benchmarking {model.name} ...", flush=True)
                bench_penguins(model, work, plan, bodies, args, results)
                continue
            print(f"cold starts of {name} ({args.cold_starts} each) ...", flush=True)
            specs = [servers.petalflow_spec(work, model), servers.mlflow_spec(work, model)]
            results.cold[name] = cold_starts(specs, work / "logs" / name, args.cold_starts)
            print(f"benchmarking {name} ...", flush=True)
            bench_model(model, work, plan, bodies, args, results, venvs)
    return results
