"""The scale benchmark's Markdown report: the table, the three goals, what was measured."""

from __future__ import annotations

from dataclasses import dataclass

from bench.goals import goals_table, scale_goals
from bench.report import command_line, machine
from bench.scale_data import CLASSES, MISSING_RATE, TARGET, Shape
from bench.scale_drift import DriftTiming

LIBRARIES = ("pandas", "pyarrow", "numpy", "scikit-learn", "mlflow")
MIB = 2**20


@dataclass(frozen=True)
class Figures:
    """Everything one scale run measured."""

    shape: Shape
    csv_bytes: int
    generated_s: float
    petalflow_s: float
    petalflow_rss: int
    baseline_s: float
    baseline_rss: int
    baseline_steps: dict[str, float]  # dataframe_bytes, read_s, prepare_s, fit_s
    accuracy: float
    drift: DriftTiming
    threads: int  # BLAS/OpenMP threads of both trainings (0: the libraries' default)
    store_s: float  # creating the empty tracking store (before petalflow's run)

    @property
    def dataframe_bytes(self) -> int:
        return int(self.baseline_steps["dataframe_bytes"])


def _table_line(s: Shape, csv_bytes: int, seconds: float) -> str:
    kinds = ", ".join(f"{n} {kind}" for kind, n in s.kinds.items())
    return (
        f"- Table (bench/scale_data.py): {s.rows:,} rows x {s.columns} columns: {kinds} "
        f"features and the target `{TARGET}` ({len(CLASSES)} classes); {s.nullable} nullable "
        f"features with {s.nullable_missing:.2%} of their cells empty (drawn at "
        f"{MISSING_RATE:.0%}), {s.missing:.2%} of all feature cells; "
        f"{csv_bytes / MIB:,.0f} MiB of CSV, generated in {seconds:.1f} s."
    )


def _method(f: Figures) -> str:
    threads = (
        f"{f.threads} BLAS/OpenMP thread(s) each (`--threads`; with two threads on a shared "
        "2-core machine the same fit took 1x to 10x as long from run to run)"
        if f.threads
        else "the BLAS/OpenMP libraries' default threads"
    )
    return (
        "- Method: each training runs once, in a fresh process, after the CSV was written "
        "(so it is in the page cache for both), with "
        f"{threads}; wall time from start to exit, peak RSS from `wait4` (`ru_maxrss`, "
        "the process and its children). petalflow logs into a temporary MLflow store "
        "whose tables were created just before, as any store has them after its first "
        f"run (by a process of {f.store_s:.1f} s, imports included, not counted); "
        "train.py's defaults "
        "(seed 42, 20 % test split, C=1.0, max_iter=1000)."
    )


def measurements(f: Figures) -> list[str]:
    steps = f.baseline_steps
    return [
        "| Process | Wall time s | Peak RSS MiB | Peak RSS / DataFrame |",
        "|---|--:|--:|--:|",
        f"| petalflow: train.py --model logreg | {f.petalflow_s:.1f} "
        f"| {f.petalflow_rss / MIB:,.0f} | {f.petalflow_rss / f.dataframe_bytes:.2f}x |",
        f"| baseline: pandas.read_csv + the same pipeline | {f.baseline_s:.1f} "
        f"| {f.baseline_rss / MIB:,.0f} | {f.baseline_rss / f.dataframe_bytes:.2f}x |",
        f"| petalflow / baseline | {f.petalflow_s / f.baseline_s:.2f}x "
        f"| {f.petalflow_rss / f.baseline_rss:.2f}x | |",
        "",
        f"Baseline steps: read_csv {steps['read_s']:.1f} s, booleans + split "
        f"{steps['prepare_s']:.1f} s, fit {steps['fit_s']:.1f} s (the rest of its wall time: "
        "interpreter start and imports). The DataFrame read_csv returns (pandas defaults: "
        "text as pandas' Arrow-backed `str`) holds "
        f"{f.dataframe_bytes / MIB:,.0f} MiB (`memory_usage(deep=True)`). petalflow's test "
        f"accuracy: {f.accuracy:.4f}.",
    ]


def drift_lines(d: DriftTiming) -> list[str]:
    covered = (
        f"all {d.features} features, each by its type (numbers: PSI + KS; categories and "
        "booleans: PSI + chi-square; nullable: missing rate), and the predicted classes"
        if d.by_type
        else f"the {d.features} numeric features only (PSI + KS) and the predicted classes: "
        "this drift_report has no per-type checks yet, categories are left out"
    )
    times = ", ".join(f"{t:.0f}" for t in d.times_ms)
    return [
        f"`drift_report` over the table's first {d.window:,} rows, encoded as the server "
        f"holds them, labelled by the trained model, against its reference_stats.json; "
        f"covering {covered}. {len(d.times_ms)} calls: {times} ms (median "
        f"{d.median_ms:.0f} ms); verdict `{d.status}`. Reading the window from the "
        "prediction log is not included.",
    ]


def render(f: Figures, argv: list[str], elapsed: float) -> str:
    lines = [
        "# petalflow scale benchmark",
        "",
        *machine(None, LIBRARIES),
        f"- Command: `{command_line(argv, 'bench/scale.py')}` (from the repository root; "
        f"took {elapsed / 60:.1f} min)",
        _table_line(f.shape, f.csv_bytes, f.generated_s),
        _method(f),
        "",
        "## Goals (issue #13, point 9)",
        "",
        *goals_table(
            scale_goals(
                f.petalflow_s / f.baseline_s,
                f.petalflow_rss / f.dataframe_bytes,
                f.drift.median_ms,
                f.drift.window,
            )
        ),
        "",
        "## Training",
        "",
        *measurements(f),
        "",
        "## Drift check",
        "",
        *drift_lines(f.drift),
        "",
    ]
    return "\n".join(lines)
