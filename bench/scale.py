"""Scale benchmark (issue #13, point 9): `make bench-scale`.

Generates a seeded CSV of ``--rows`` rows (default 1,000,000) with 19 mixed features and
a 3-class target, 5 % gaps in its nullable columns (bench/scale_data.py), and its data
contract, in a temporary folder. Then, each in a fresh process whose wall time and peak
RSS (``wait4``'s ``ru_maxrss``) are measured:

* petalflow: ``train.py --dataset scale.yaml --model logreg`` into a temporary MLflow
  store (``sqlite:///<tmp>/mlflow.db``) and artifacts folder;
* the baseline (bench/scale_baseline.py): ``pandas.read_csv`` + the same
  ColumnTransformer pipeline fitted by hand; it reports the DataFrame's memory.

Last, ``drift_report`` over a 100,000-row window of the table against the trained
model's reference statistics (bench/scale_drift.py). Writes a Markdown report
(bench/scale_results.md by default) and prints it. No timing is asserted here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `petalflow` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scale_data
from bench.loadgen import BenchError
from bench.scale_report import Figures, render
from bench.servers import ROOT, base_env

ROWS = 1_000_000
WINDOW = 100_000
TIMEOUT_SECONDS = 3600
# Thread pools of the BLAS (numpy, scipy) and OpenMP (scikit-learn) libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Measured:
    """One process: its wall time, peak RSS and output."""

    wall_s: float
    peak_rss: int  # bytes
    output: str


def _kill_group(pid: int) -> None:
    """SIGKILL the process group of a child started in its own session (id = its PID)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_measured(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Measured:
    """Run ``command`` to its end; its wall time and peak RSS (its own and its children's,
    from ``wait4``). Output goes to ``log``; BenchError if it fails or outlives
    TIMEOUT_SECONDS (then its process group, whose id is its PID, is killed)."""
    with log.open("wb") as out:
        began = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        timer = threading.Timer(TIMEOUT_SECONDS, _kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted (SIGTERM, Ctrl-C): no orphan left running
            _kill_group(proc.pid)
            os.waitpid(proc.pid, 0)
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"{command[1]} failed ({proc.returncode}):\n{output[-3000:]}")
    return Measured(wall, usage.ru_maxrss * 1024, output)  # ru_maxrss is in KiB on Linux


def child_env(work: Path, threads: int) -> dict[str, str]:
    """The temporary tracking store; BLAS and OpenMP pools of ``threads`` (0: their own
    default, one thread per core)."""
    pools = {name: str(threads) for name in THREAD_VARIABLES} if threads else {}
    return base_env(work, **pools)


def create_store(work: Path, threads: int) -> Measured:
    """Create the tracking store's tables (MLflow's ~130 migrations), as any store has
    them after its first run; the one-time cost is reported, not counted."""
    code = (
        "from petalflow.training import tracking; tracking.connect(tracking.resolve_tracking_uri())"
    )
    command = [sys.executable, "-c", code]
    return run_measured(command, ROOT, child_env(work, threads), work / "store.log")


def train_petalflow(work: Path, contract: Path, threads: int) -> Measured:
    """train.py on the contract, logging into the tracking store inside ``work``."""
    command = [sys.executable, str(ROOT / "train.py"), "--dataset", str(contract)]
    command += ["--model", "logreg", "--artifacts-dir", str(work / "artifacts")]
    return run_measured(command, work, child_env(work, threads), work / "train.log")


def train_baseline(work: Path, contract: Path, threads: int) -> tuple[Measured, dict[str, float]]:
    """bench/scale_baseline.py on the same CSV; its own figures (the last output line)."""
    command = [sys.executable, str(ROOT / "bench" / "scale_baseline.py"), str(contract)]
    done = run_measured(command, work, child_env(work, threads), work / "baseline.log")
    return done, json.loads(done.output.strip().splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=ROWS, help=f"rows of the CSV (default {ROWS:,})")
    p.add_argument(
        "--window", type=int, default=WINDOW, help=f"rows of the drift window (default {WINDOW:,})"
    )
    p.add_argument("--seed", type=int, default=scale_data.SEED, help="the generator's seed")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads of both trainings (default 1; 0 = the libraries' default). "
        "On a shared 2-core machine a 2-thread BLAS fit swings 1x-10x with other load",
    )
    p.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "scale_results.md", help="Markdown report"
    )
    p.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (CSV, logs, artifacts)"
    )
    return p


def measure(args: argparse.Namespace, work: Path) -> Figures:
    from bench.scale_drift import time_drift  # imports petalflow, scikit-learn: not for --help

    print(f"generating {args.rows:,} rows ...", flush=True)
    began = time.perf_counter()
    csv, contract, shape = scale_data.write(work / "data", args.rows, args.seed)
    generated = time.perf_counter() - began
    print("baseline: pandas.read_csv + the same pipeline ...", flush=True)
    baseline, own = train_baseline(work, contract, args.threads)
    print(f"  {baseline.wall_s:.1f} s, peak RSS {baseline.peak_rss / 2**20:,.0f} MiB", flush=True)
    store = create_store(work, args.threads)
    print("petalflow: train.py --dataset scale.yaml --model logreg ...", flush=True)
    petalflow = train_petalflow(work, contract, args.threads)
    print(f"  {petalflow.wall_s:.1f} s, peak RSS {petalflow.peak_rss / 2**20:,.0f} MiB", flush=True)
    print(f"drift_report over {min(args.window, args.rows):,} rows ...", flush=True)
    timing = time_drift(work / "artifacts", csv, args.window)
    metrics = json.loads((work / "artifacts" / "metrics.json").read_text())
    return Figures(
        shape=shape,
        csv_bytes=csv.stat().st_size,
        generated_s=generated,
        petalflow_s=petalflow.wall_s,
        petalflow_rss=petalflow.peak_rss,
        baseline_s=baseline.wall_s,
        baseline_rss=baseline.peak_rss,
        baseline_steps=own,
        accuracy=float(metrics["accuracy"]),
        drift=timing,
        threads=args.threads,
        store_s=store.wall_s,
    )


def _terminate(signum: int, _frame: object) -> None:
    # Unwind normally: the running child is killed and the temporary folder removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.rows < 1000 or args.window < 100:
        build_parser().error("--rows must be >= 1000 and --window >= 100")
    began = time.monotonic()
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            figures = measure(args, args.keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="petalflow-scale-") as tmp:
                figures = measure(args, Path(tmp))
    except BenchError as exc:
        print(f"scale benchmark failed: {exc}", file=sys.stderr)
        return 1
    text = render(figures, argv, time.monotonic() - began)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
