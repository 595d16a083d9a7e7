"""The Markdown report: machine, command, measurements, ratios and goals."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.suite import BATCH, SINGLE, Summary

LIBRARIES = ("fastapi", "starlette", "uvicorn", "pydantic", "numpy", "scikit-learn", "mlflow")
TREND = {"≥": lambda value, target: value >= target, "≤": lambda value, target: value <= target}


@dataclass(frozen=True)
class Goal:
    """One goal: a measured figure against its target."""

    name: str
    model: str
    op: str  # "≥" or "≤"
    target: float
    value: float | None
    unit: str = "x"

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if TREND[self.op](self.value, self.target) else "FAIL"


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


def machine(wrk: str) -> list[str]:
    """Lines describing where and with what the figures were taken."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in LIBRARIES)
    return [
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {os.cpu_count()} CPUs ({_cpu_model()}), {_memory_gib()} memory, "
        f"{platform.system()} {platform.release()}; load average at the end "
        f"(1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Python {platform.python_version()}; {versions}; wrk {_wrk_version(wrk)}",
    ]


def _ratio(value: float, other: float | None) -> str:
    return f"{value / other:.2f}x" if other else ""


def measurements(summaries: list[Summary]) -> list[str]:
    """One row per cell; petalflow rows carry their ratio to mlflow and to the floor."""
    lines = [
        "| Model | Test | Conns | Server | Req/s | Rows/s | p50 ms | p99 ms | Errors "
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


def goals_table(goals: list[Goal]) -> list[str]:
    lines = ["| Goal | Model | Target | Measured | Result |", "|---|---|--:|--:|---|"]
    for g in goals:
        shown = "not measured" if g.value is None else f"{g.value:.2f}{g.unit}"
        lines.append(
            f"| {g.name} | {g.model} | {g.op} {g.target:g}{g.unit} | {shown} | {g.verdict} |"
        )
    return lines


def _get(summaries: list[Summary], model: str, test: str, conns: int, key: str) -> Summary | None:
    for s in summaries:
        c = s.cell
        if (c.model, c.test, c.connections, c.key) == (model, test, conns, key):
            return s
    return None


def _ratio_of(a: Summary | None, b: Summary | None, attr: str = "rps") -> float | None:
    if a is None or b is None or not getattr(b, attr):
        return None
    return float(getattr(a, attr) / getattr(b, attr))


def goals(
    summaries: list[Summary],
    cold: dict[str, dict[str, list[float]]],
    costs: dict[str, list[float]],
    models: tuple[str, ...] = ("logreg", "rf"),
    conns: int = 16,
) -> list[Goal]:
    """The issue's goals, for every model (n/a when a model was not measured).

    The logging cost comes from the paired rounds in ``costs`` (req/s log on over log
    off, per pair); ``cost_table`` shows the interleaved cells' estimate beside it.
    """
    out = []
    for model in models:

        def get(test: str, c: int, key: str, m: str = model) -> Summary | None:
            return _get(summaries, m, test, c, key)

        pf = get(SINGLE, conns, "pf")
        speedup = _ratio_of(pf, get(SINGLE, conns, "mlflow"))
        floor = _ratio_of(pf, get(SINGLE, conns, "floor"))
        p50 = _ratio_of(get(SINGLE, 1, "pf"), get(SINGLE, 1, "mlflow"), "p50_ms")
        batch = _ratio_of(get(BATCH, conns, "pf"), get(BATCH, conns, "mlflow"))
        times = cold.get(model)
        start = (
            statistics.median(times["petalflow"]) / statistics.median(times["mlflow"])
            if times
            else None
        )
        ratios = costs.get(model)
        cost = (1 - statistics.median(ratios)) * 100 if ratios else None
        out += [
            Goal(
                f"/predict req/s vs mlflow, {conns} conns",
                model,
                "≥",
                15 if model == "logreg" else 50,
                speedup,
            ),
            Goal(f"/predict req/s vs FastAPI floor, {conns} conns", model, "≥", 0.8, floor),
            Goal("/predict p50 vs mlflow's, 1 conn", model, "≤", 0.1, p50),
            Goal(f"1,000-row batch rows/s vs mlflow, {conns} conns", model, "≥", 5, batch),
            Goal("cold start vs mlflow's (median)", model, "≤", round(1 / 3, 3), start),
            Goal(f"prediction log + metrics cost, {conns} conns", model, "≤", 10, cost, "%"),
        ]
    return out


def cost_table(
    costs: dict[str, list[float]], seconds: float, summaries: list[Summary], conns: int
) -> list[str]:
    """The paired log on/off rounds (the cost the goal uses, its spread, its middle half)
    beside the same cost from the interleaved cells' medians, a second estimate."""
    lines = [
        "| Model | pairs | cost (1 - median of log-on/log-off req/s) | middle half | "
        "per-pair range | from the interleaved cells |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for model, ratios in costs.items():
        if not ratios:
            continue
        pct = sorted((1 - r) * 100 for r in ratios)
        quartiles = statistics.quantiles(pct, n=4) if len(pct) > 1 else [pct[0]] * 3
        pf, nolog = (_get(summaries, model, SINGLE, conns, key) for key in ("pf", "pf_nolog"))
        ratio = _ratio_of(pf, nolog)
        cells = "n/a" if ratio is None else f"{(1 - ratio) * 100:.1f}%"
        lines.append(
            f"| {model} | {len(ratios)} x {seconds:g} s | "
            f"{(1 - statistics.median(ratios)) * 100:.1f}% | "
            f"{quartiles[0]:.1f}% to {quartiles[2]:.1f}% | "
            f"{pct[0]:.1f}% to {pct[-1]:.1f}% | {cells} |"
        )
    return lines
