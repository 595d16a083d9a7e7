"""The goals of `make bench`: every target, defined here once, and its measured figure.

docs/performance.md states the same targets (tests/bench/test_goals.py checks it).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.lifecycle import ReloadRun
from bench.suite import BATCH, SINGLE, Latency, Summary, case_name

TREND = {"≥": lambda value, target: value >= target, "≤": lambda value, target: value <= target}


@dataclass(frozen=True)
class Target:
    """What a goal asks; ``{conns}`` and ``{lat}`` in the name are the connection counts
    of the wrk cells and of the latency client's runs."""

    name: str
    op: str  # "≥" or "≤"
    value: float
    unit: str = "x"
    models: tuple[str, ...] = ("logreg", "rf")  # the models the target applies to


# Issue #11 (throughput, batches, logging cost, cold start, p50), #18 (latency stalls) and
# #16, point 3 (the logging cost on columnar 1,000-row batches).
TARGETS: dict[str, Target] = {
    "vs_mlflow": Target("/predict req/s vs mlflow, {conns} conns", "≥", 25),
    "vs_floor": Target("/predict req/s vs FastAPI floor, {conns} conns", "≥", 0.85),
    "p50_vs_mlflow": Target("/predict p50 vs mlflow's, 1 conn", "≤", 0.1),
    "batch": Target("1,000-row batch rows/s vs mlflow, {conns} conns", "≥", 5),
    "cold_start": Target("cold start vs mlflow's (median)", "≤", 0.333),
    "log_cost": Target("prediction log + metrics cost, {conns} conns", "≤", 10, "%"),
    "batch_log_cost": Target(
        "prediction log + metrics cost, columnar 1,000-row batches, {conns} conns", "≤", 15, "%"
    ),
    "max_latency": Target("max latency, log on, {lat} conns", "≤", 25, " ms"),
    "p99_log_ratio": Target("p99 log on / p99 log off, {lat} conns", "≤", 1.5),
}

# Issue #13, point 8: a table with categories and gaps, served by both (bench/run.py).
PENGUIN_TARGETS: dict[str, Target] = {
    "penguins_vs_mlflow": Target("penguins /predict req/s vs mlflow, {conns} conns", "≥", 15),
}

# Issue #16, points 1 and 4: petalflow against MLServer on the same rows (log on).
# Batches: petalflow's columnar /predict/batch (labels + probabilities) against
# MLServer's V2 ``predict_proba`` (probabilities only; both column-major bodies); single rows: /predict against V2 infer.
PEER_TARGETS: dict[str, Target] = {
    "mlserver_batch_logreg": Target(
        "columnar 1,000-row batch rows/s vs MLServer, {conns} conns", "≥", 1.5, models=("logreg",)
    ),
    "mlserver_batch_rf": Target(
        "columnar 1,000-row batch rows/s vs MLServer, {conns} conns", "≥", 2, models=("rf",)
    ),
    "mlserver_single": Target("/predict req/s vs MLServer, {conns} conns", "≥", 5),
}

# Issue #15, point 6: the serving lifecycle (bench/lifecycle.py). Its third figure, the
# single-row ratio against mlflow (>= 25x), is ``vs_mlflow`` above.
LIFECYCLE_TARGETS: dict[str, Target] = {
    "shadow": Target(
        "/predict req/s with a shadow (SHADOW_SAMPLE=1) vs without, {conns} conns", "≥", 0.7
    ),
    "reload_p99": Target("/predict p99 during reloads / steady p99, {lat} conns", "≤", 3),
}

# Issue #13, point 9: `make bench-scale` (bench/scale.py); ``{window}`` is the drift window.
SCALE_TARGETS: dict[str, Target] = {
    "train_time": Target("training wall time vs pandas + scikit-learn by hand", "≤", 1.5),
    "peak_rss": Target("training peak RSS vs the DataFrame's memory", "≤", 2.5),
    "drift_ms": Target("drift check over a {window}-row window", "≤", 250, " ms"),
}


@dataclass(frozen=True)
class Goal:
    """One goal: a measured figure against its target."""

    name: str
    model: str
    op: str
    target: float
    value: float | None
    unit: str = "x"

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if TREND[self.op](self.value, self.target) else "FAIL"


def goals_table(goals: list[Goal]) -> list[str]:
    lines = ["| Goal | Model | Target | Measured | Result |", "|---|---|--:|--:|---|"]
    for g in goals:
        shown = "not measured" if g.value is None else f"{g.value:.2f}{g.unit}"
        lines.append(
            f"| {g.name} | {g.model} | {g.op} {g.target:g}{g.unit} | {shown} | {g.verdict} |"
        )
    return lines


def get(summaries: list[Summary], model: str, test: str, conns: int, key: str) -> Summary | None:
    for s in summaries:
        c = s.cell
        if (c.model, c.test, c.connections, c.key) == (model, test, conns, key):
            return s
    return None


def ratio_of(a: Summary | None, b: Summary | None, attr: str = "rps") -> float | None:
    if a is None or b is None or not getattr(b, attr):
        return None
    return float(getattr(a, attr) / getattr(b, attr))


def _latency(latencies: list[Latency], model: str, key: str) -> Latency | None:
    return next((x for x in latencies if (x.model, x.key) == (model, key)), None)


def measured(
    model: str,
    summaries: list[Summary],
    cold: dict[str, dict[str, list[float]]],
    costs: dict[str, list[float]],
    latencies: list[Latency],
    conns: int,
    batch_costs: dict[str, list[float]] | None = None,
) -> dict[str, float | None]:
    """The figure of every target for one model (None when it was not measured).

    The logging costs come from the paired rounds in ``costs`` (single rows) and
    ``batch_costs`` (columnar batches): req/s log on over log off, per pair; the latency
    goals from the latency client's runs.
    """

    def cell(test: str, c: int, key: str) -> Summary | None:
        return get(summaries, model, test, c, key)

    pf = cell(SINGLE, conns, "pf")
    times = cold.get(model)
    ratios, batch_ratios = costs.get(model), (batch_costs or {}).get(model)
    on, off = (_latency(latencies, model, key) for key in ("pf", "pf_nolog"))
    return {
        "vs_mlflow": ratio_of(pf, cell(SINGLE, conns, "mlflow")),
        "vs_floor": ratio_of(pf, cell(SINGLE, conns, "floor")),
        "p50_vs_mlflow": ratio_of(cell(SINGLE, 1, "pf"), cell(SINGLE, 1, "mlflow"), "p50_ms"),
        "batch": ratio_of(cell(BATCH, conns, "pf"), cell(BATCH, conns, "mlflow")),
        "cold_start": (
            statistics.median(times["petalflow"]) / statistics.median(times["mlflow"])
            if times
            else None
        ),
        "log_cost": (1 - statistics.median(ratios)) * 100 if ratios else None,
        "batch_log_cost": (1 - statistics.median(batch_ratios)) * 100 if batch_ratios else None,
        "max_latency": on.result.max_ms if on else None,
        "p99_log_ratio": on.result.p99_ms / off.result.p99_ms if on and off else None,
    }


def goals(
    summaries: list[Summary],
    cold: dict[str, dict[str, list[float]]],
    costs: dict[str, list[float]],
    latencies: list[Latency],
    models: tuple[str, ...] = ("logreg", "rf"),
    conns: int = 16,
    latency_conns: int = 8,
    batch_costs: dict[str, list[float]] | None = None,
) -> list[Goal]:
    """Every target for every model (n/a when a model was not measured)."""
    out = []
    for model in models:
        values = measured(model, summaries, cold, costs, latencies, conns, batch_costs)
        for key, t in TARGETS.items():
            name = t.name.format(conns=conns, lat=latency_conns)
            out.append(Goal(name, model, t.op, t.value, values[key], t.unit))
    return out


def lifecycle_goals(
    summaries: list[Summary],
    reloads: list[ReloadRun],
    models: tuple[str, ...] = ("logreg", "rf"),
    conns: int = 16,
    latency_conns: int = 8,
) -> list[Goal]:
    """The shadow's throughput ratio and the p99 ratio across reloads, per model."""
    out = []
    for model in models:
        pf, shadowed = (get(summaries, model, SINGLE, conns, key) for key in ("pf", "pf_shadow"))
        run = next((r for r in reloads if r.model == model), None)
        values = {
            "shadow": ratio_of(shadowed, pf),
            "reload_p99": run.reloading.p99_ms / run.steady.p99_ms if run else None,
        }
        for key, t in LIFECYCLE_TARGETS.items():
            name = t.name.format(conns=conns, lat=latency_conns)
            out.append(Goal(name, model, t.op, t.value, values[key], t.unit))
    return out


def penguin_goals(
    summaries: list[Summary], models: tuple[str, ...] = ("logreg", "rf"), conns: int = 16
) -> list[Goal]:
    """The penguins targets for each model (n/a when a model was not measured)."""
    out = []
    for model in models:
        case = case_name("penguins", model)
        pf, mlflow = (get(summaries, case, SINGLE, conns, key) for key in ("pf", "mlflow"))
        for t in PENGUIN_TARGETS.values():
            name = t.name.format(conns=conns)
            out.append(Goal(name, model, t.op, t.value, ratio_of(pf, mlflow), t.unit))
    return out


def peer_goals(
    summaries: list[Summary], models: tuple[str, ...] = ("logreg", "rf"), conns: int = 16
) -> list[Goal]:
    """The MLServer targets for each model they apply to (n/a when not measured)."""
    out = []
    for model in models:
        pf, single, columnar, batch = (
            get(summaries, model, test, conns, key)
            for test, key in (
                (SINGLE, "pf"),
                (SINGLE, "mlserver"),
                (BATCH, "pf_columnar"),
                (BATCH, "mlserver"),
            )
        )
        rows = ratio_of(columnar, batch, "rows_per_s")
        values = {"mlserver_single": ratio_of(pf, single)}
        for key, t in PEER_TARGETS.items():
            if model in t.models:
                value = values.get(key, rows)
                out.append(Goal(t.name.format(conns=conns), model, t.op, t.value, value, t.unit))
    return out


def scale_goals(time_ratio: float, rss_ratio: float, drift_ms: float, window: int) -> list[Goal]:
    """The scale targets against one `make bench-scale` run (bench/scale.py)."""
    values = {"train_time": time_ratio, "peak_rss": rss_ratio, "drift_ms": drift_ms}
    return [
        Goal(t.name.format(window=f"{window:,}"), "logreg", t.op, t.value, values[key], t.unit)
        for key, t in SCALE_TARGETS.items()
    ]
