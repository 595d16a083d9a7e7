"""The serving lifecycle under load (issue #15): a shadow model's cost, latency across reloads.

- **Shadow**: petalflow serving the model with ``SHADOW_MODEL_URI`` set to the same model's
  run (a challenger of the same size) and ``SHADOW_SAMPLE=1`` (every request shadowed).
  Its /predict cell joins the interleaved wrk rounds beside petalflow without a shadow.
- **Reload**: petalflow serving ``models:/bench-<model>@champion``, where two registry
  versions hold the same run. The latency client measures /predict twice on that server,
  steady, then while the alias moves to the other version and ``POST /admin/reload``
  swaps it in every ``RELOAD_EVERY`` s (both from another process: bench/reloader.py):
  download, load, fast-path verification, warm-up and swap, each time, with the clients
  going on. Every reload must answer ``switched``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import servers
from bench.latency import LatencyResult, measure, summary
from bench.loadgen import BenchError
from bench.suite import PAUSE_SECONDS, SINGLE, Cell

RELOAD_EVERY = 1.0  # seconds from the end of one reload to the next alias move
ALIAS = "champion"


@dataclasses.dataclass(frozen=True)
class ReloadRun:
    """The latency client on the reload server: steady, then during reloads."""

    model: str
    connections: int
    steady: LatencyResult
    reloading: LatencyResult
    reloads: int  # completed switches during the second measurement


def shadow_spec(work: Path, model: servers.Trained) -> servers.ServerSpec:
    """petalflow (log on) shadowing every request with a second copy of its own model."""
    spec = servers.petalflow_spec(work, model)
    env = {
        **spec.env,
        "PREDICTION_LOG": str(work / f"predictions-{model.name}-shadow.db"),
        "SHADOW_MODEL_URI": f"runs:/{model.run_id}/model",
        "SHADOW_SAMPLE": "1",
    }
    return dataclasses.replace(spec, name="petalflow-shadow", env=env)


# MLflow looks the logged model up through the process's tracking URI when a version is
# created: registering in a child with the bench's store in its environment keeps this
# process free of MLflow's global state.
_REGISTER = """
import sys, mlflow
name, model_uri, run_id, alias = sys.argv[1:]
client = mlflow.MlflowClient()
client.create_registered_model(name)
for _ in range(2):
    client.create_model_version(name, model_uri, run_id=run_id, model_id=model_uri[8:])
client.set_registered_model_alias(name, alias, "1")
"""


def register(work: Path, model: servers.Trained) -> str:
    """Register the model's run twice (versions 1 and 2, the alias on 1); its name."""
    name = f"bench-{model.name}"
    model_uri = str(json.loads((model.artifacts_dir / "model_info.json").read_text())["model_uri"])
    done = subprocess.run(
        [sys.executable, "-c", _REGISTER, name, model_uri, model.run_id, ALIAS],
        cwd=work,
        env=servers.base_env(work),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"registering {name} failed:\n{done.stderr[-2000:]}")
    return name


def reload_spec(work: Path, model: servers.Trained, registered: str) -> servers.ServerSpec:
    """petalflow (log on) serving the registered alias; reloads only on POST /admin/reload."""
    spec = servers.petalflow_spec(work, model)
    env = {
        **spec.env,
        "MODEL_URI": f"models:/{registered}@{ALIAS}",
        "RELOAD_INTERVAL": "0",
        "PREDICTION_LOG": str(work / f"predictions-{model.name}-reload.db"),
    }
    return dataclasses.replace(spec, name="petalflow-reload", env=env)


def add_shadow_cell(groups: list[list[Cell]], model: str, conns: int) -> None:
    """Put the shadowed server's /predict cell in the group of petalflow's at ``conns``."""
    for group in groups:
        if any((c.key, c.test, c.connections) == ("pf", SINGLE, conns) for c in group):
            group.append(Cell(model, SINGLE, conns, "pf_shadow", "/predict", "predict"))
            return
    raise BenchError(f"no single-row group at {conns} connections for the shadow cell")


class _Reloader:
    """``bench/reloader.py`` in its own process (see there why not a thread), run from the
    repository root: started and ready (MLflow imported) before the steady run, reloading
    from ``go`` to ``stop``."""

    def __init__(self, url: str, tracking_uri: str, registered: str, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "bench.reloader", url, tracking_uri, registered]
        self.process = subprocess.Popen(
            [*command, str(RELOAD_EVERY)],
            cwd=servers.ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        if self.stdout.readline().strip() != "ready":
            self.process.kill()
            raise BenchError("the reloader process did not start (see its stderr above)")

    def go(self) -> None:
        self.stdin.write("go\n")
        self.stdin.flush()

    def stop(self) -> tuple[int, list[str]]:
        """Close its stdin (it ends after the reload in progress); (switched, errors)."""
        self.stdin.close()
        try:
            line = self.stdout.readline()
            self.process.wait(timeout=120)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        if not line:
            return 0, [f"the reloader process exited with {self.process.returncode}"]
        outcome = json.loads(line)
        return int(outcome["switched"]), list(outcome["errors"])


def reload_latency(
    server: servers.Server,
    registered: str,
    body: bytes,
    model: str,
    connections: int,
    seconds: float,
    raw_dir: Path,
) -> ReloadRun:
    """The latency client on ``server``: steady, then for as long again during reloads."""
    url = server.url + "/predict"
    env = server.spec.env
    reloader = _Reloader(server.url, env["MLFLOW_TRACKING_URI"], registered, env)
    try:
        steady = measure(url, body, connections, seconds)
        time.sleep(PAUSE_SECONDS)
        reloader.go()
        reloading = measure(url, body, connections, seconds)
    finally:
        switched, errors = reloader.stop()
    for name, result in (("steady", steady), ("reloading", reloading)):
        if result.errors:
            raise BenchError(f"{model} reload server ({name}): {result.errors} non-200 answers")
        raw = raw_dir / f"{model}-reload-{name}-c{connections}.json"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(summary(result), indent=1))
    if errors or not switched:
        raise BenchError(f"{model}: reloads failed: {errors or 'none switched'}")
    print(
        f"  reload {model:6} c{connections:<3} steady p99 {steady.p99_ms:6.2f} ms, "
        f"during {switched} reloads p99 {reloading.p99_ms:6.2f} ms "
        f"(max {reloading.max_ms:.1f} ms)",
        flush=True,
    )
    return ReloadRun(model, connections, steady, reloading, switched)


def reload_table(runs: list[ReloadRun]) -> list[str]:
    """The reload server's latency, steady and during reloads, per model."""
    lines = [
        "| Model | Conns | Reloads | steady p50 / p99 / max ms "
        "| during reloads p50 / p99 / max ms | p99 during / steady |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        a, b = run.steady, run.reloading
        lines.append(
            f"| {run.model} | {run.connections} | {run.reloads} "
            f"| {a.p50_ms:.2f} / {a.p99_ms:.2f} / {a.max_ms:.1f} "
            f"| {b.p50_ms:.2f} / {b.p99_ms:.2f} / {b.max_ms:.1f} "
            f"| {b.p99_ms / a.p99_ms:.2f}x |"
        )
    return lines
