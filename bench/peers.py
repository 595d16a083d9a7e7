"""The peers of `make bench` (issue #16): MLServer and BentoML serving the same Iris model.

Each peer runs from its own venv, built once with pinned versions and cached: by default
under ``~/.cache/petalflow-bench/<peer>-<hash of Python version and pins>`` (or
``$XDG_CACHE_HOME``), or ``--peers-venv-dir``; a later run reuses it. scikit-learn, numpy
and joblib are pinned to the versions of the running interpreter, so that the peers
unpickle ``model.joblib`` with the library that wrote it.

- MLServer 1.7 with its scikit-learn runtime: the V2 inference protocol, ``predict_proba``
  asked for in the request's ``outputs``; ``parallel_workers: 0`` (the default of 1
  crashes with uvloop >= 0.22), adaptive batching off (its default).
- BentoML 1.4: bench/bento_iris.py, a ``@bentoml.service`` with ``/predict`` (one row)
  and ``/predict_batch`` (``instances``), returning label and probabilities.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.loadgen import BenchError
from bench.servers import HOST, ServerSpec, Trained, base_env, free_port

MODEL_NAME = "iris"  # MLServer's model name, in its V2 path
INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
TOLERANCE = 1e-9  # probabilities of a peer and of petalflow on the same rows
SHARED = ("scikit-learn", "numpy", "joblib")  # at this interpreter's versions


@dataclass(frozen=True)
class Peer:
    """A peer server: its key in cells, its name in reports and what its venv holds."""

    key: str
    label: str
    packages: tuple[str, ...]
    health: str

    def pins(self) -> list[str]:
        shared = [f"{name}=={metadata.version(name)}" for name in SHARED]
        return [*self.packages, *shared]


PEERS = {
    "mlserver": Peer(
        "mlserver", "MLServer", ("mlserver==1.7.1", "mlserver-sklearn==1.7.1"), "/v2/health/ready"
    ),
    "bentoml": Peer("bentoml", "BentoML", ("bentoml==1.4.40",), "/readyz"),
}

# What each server returns, for the report (keys as in bench/suite.py's cells).
CONTENT = {
    "pf": "label + every class's probability (named), model_version, latency_ms",
    "pf_batch": "per row: label + every class's probability (named); model_version, latency_ms",
    "pf_columnar": "labels, a probability matrix and its class order; model_version, latency_ms",
    "mlflow": "labels only (MLflow scoring protocol)",
    "floor": "a constant petalflow /predict response (no model)",
    "mlserver": "probabilities only: an FP64 tensor [rows, classes] in the model's class "
    "order, classes not named, no labels; model name, version and request id",
    "bentoml": "label + every class's probability (named), per row",
}


def default_venv_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "petalflow-bench"


def venv_dir(peer: Peer, root: Path) -> Path:
    """Where ``peer``'s venv lives: a new folder whenever Python or a pin changes."""
    key = "\n".join([platform.python_version(), *peer.pins()])
    return root / f"{peer.key}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_venv(peer: Peer, root: Path) -> Path:
    """``peer``'s venv, built (python -m venv, pip install of the pins) unless a finished
    one is there; a stamp file marks it finished, so a half-built one is rebuilt."""
    folder = venv_dir(peer, root)
    stamp = folder / ".installed"
    if stamp.is_file():
        return folder
    print(f"installing {peer.label} into {folder} (once; later runs reuse it) ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [[sys.executable, "-m", "venv", str(folder)], [*pip, "--quiet", *peer.pins()]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            raise BenchError(
                f"building {peer.label}'s venv in {folder} failed (`--peers none` runs the "
                f"bench without the peers):\n{done.stderr[-3000:]}"
            )
    stamp.write_text("\n".join(peer.pins()) + "\n")
    return folder


def mlserver_settings(http_port: int, grpc_port: int, metrics_port: int) -> dict[str, Any]:
    """settings.json: loopback, our ports, and no worker pool (parallel_workers 0)."""
    return {
        "host": HOST,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": 0,
    }


def mlserver_model_settings(model_file: Path) -> dict[str, Any]:
    """model-settings.json: the scikit-learn runtime on ``model_file`` (no batching)."""
    return {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_file), "version": "v1"},
    }


def write_mlserver_config(folder: Path, model_file: Path, ports: tuple[int, int, int]) -> Path:
    """MLServer's model repository: settings.json in ``folder``, model-settings.json in
    its sub-folder named after the model (MLServer warns when the two names differ)."""
    (folder / MODEL_NAME).mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(mlserver_settings(*ports), indent=1))
    model_settings = json.dumps(mlserver_model_settings(model_file), indent=1)
    (folder / MODEL_NAME / "model-settings.json").write_text(model_settings)
    return folder


def mlserver_spec(work: Path, model: Trained, venv: Path) -> ServerSpec:
    """`mlserver start` on a repository holding ``model``'s joblib pipeline."""
    port = free_port()
    ports = (port, free_port(), free_port())
    folder = write_mlserver_config(
        work / f"mlserver-{model.name}", model.artifacts_dir / "model.joblib", ports
    )
    args = [str(venv / "bin" / "mlserver"), "start", str(folder)]
    env = base_env(work)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return ServerSpec("mlserver", args, env, PEERS["mlserver"].health, port=port)


def bentoml_spec(work: Path, model: Trained, venv: Path) -> ServerSpec:
    """`bentoml serve` of bench/bento_iris.py (one worker) on ``model``'s pipeline."""
    args = [str(venv / "bin" / "bentoml"), "serve", "bench.bento_iris:IrisClassifier"]
    args += ["--host", HOST, "--port", "{port}"]
    env = base_env(
        work,
        BENCH_MODEL_PATH=str(model.artifacts_dir / "model.joblib"),
        BENTOML_HOME=str(work / "bentoml"),
        BENTOML_DO_NOT_TRACK="True",
    )
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return ServerSpec("bentoml", args, env, PEERS["bentoml"].health)


def batch_outcomes(key: str, content: bytes) -> tuple[list[str] | None, list[list[float]]]:
    """The labels (None when the server returns none) and the probability rows of a
    batch response, columns in the model's class order (sorted class names)."""
    body = json.loads(content)
    if key == "mlserver":
        (output,) = (o for o in body["outputs"] if o["name"] == "predict_proba")
        n, k = output["shape"]
        data = [float(x) for x in output["data"]]
        return None, [data[i * k : (i + 1) * k] for i in range(n)]
    if key == "pf_columnar":  # probability rows in the answer's own class order
        order = sorted(range(len(body["classes"])), key=body["classes"].__getitem__)
        return body["labels"], [[float(row[i]) for i in order] for row in body["probabilities"]]
    rows = body["predictions"] if key == "pf_batch" else body
    labels = [str(r["predicted_label"]) for r in rows]
    probabilities = [[float(v) for _, v in sorted(r["class_probabilities"].items())] for r in rows]
    return labels, probabilities


def check_agreement(ours: bytes, theirs: bytes, key: str) -> None:
    """Raise unless a peer's batch answer matches petalflow's /predict/batch: every
    probability within TOLERANCE; the labels equal (MLServer, which returns none: the
    most probable class of its probabilities is petalflow's label)."""
    labels, proba = batch_outcomes("pf_batch", ours)
    peer_labels, peer_proba = batch_outcomes(key, theirs)
    label = PEERS[key].label
    if len(peer_proba) != len(proba):
        raise BenchError(f"{label} answered {len(peer_proba)} rows, petalflow {len(proba)}")
    if {len(row) for row in peer_proba} != {len(proba[0])}:
        raise BenchError(f"{label} answered other classes than petalflow's {len(proba[0])}")
    pairs = zip(proba, peer_proba, strict=True)
    worst = max(abs(a - b) for r, s in pairs for a, b in zip(r, s, strict=True))
    if worst > TOLERANCE:
        raise BenchError(f"{label}'s probabilities differ from petalflow's by up to {worst:.3g}")
    if peer_labels is None:
        classes = sorted(json.loads(ours)["predictions"][0]["class_probabilities"])
        peer_labels = [classes[row.index(max(row))] for row in peer_proba]
    if peer_labels != labels:
        raise BenchError(f"{label}'s labels differ from petalflow's")
