"""The processes under test: training, petalflow, `mlflow models serve`, the FastAPI floor.

Every process is started in its own session on a free loopback port and stopped by its
PID (its process group id): SIGTERM, wait, SIGKILL.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import BenchError

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Trained:
    """A model trained into the benchmark's temporary folder."""

    name: str
    artifacts_dir: Path
    run_id: str


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server; ``{port}`` in ``args`` is replaced by its port, a free one
    unless ``port`` is given (MLServer reads its ports from a file written beforehand)."""

    name: str
    args: list[str]
    env: dict[str, str]
    health: str
    cwd: Path = ROOT  # the checkout whose serve.py (and petalflow) the server imports
    port: int | None = None
    # petalflow: ready once /model shows its fast path adopted (verified just after
    # start-up; scikit-learn answers until then), not at its first health 200.
    fast_path: bool = False


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port, never one handed out before in this process: servers bind
    their ports later, so the kernel could offer one twice (MLServer's gRPC port once
    went to another server meanwhile, and MLServer failed to start)."""
    while True:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def base_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of every child: the venv first on PATH, the temp tracking store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_URI"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def train(work: Path, name: str, *args: str, root: Path = ROOT) -> Trained:
    """Run ``root``'s train.py (cwd = the temp folder, so ./mlruns lands there) into
    ``work/name``."""
    target = work / name
    command = [sys.executable, str(root / "train.py"), "--artifacts-dir", str(target), *args]
    done = subprocess.run(
        command,
        cwd=work,
        env=base_env(work),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"training {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    run_id = json.loads((target / "model_info.json").read_text())["run_id"]
    return Trained(name, target, str(run_id))


def shipped_limits(root: Path = ROOT) -> list[str]:
    """The uvicorn flags of `make serve`, the Docker image and the documented command
    (``UVICORN_LIMITS`` in the Makefile): petalflow is measured as users run it."""
    found = re.search(r"^UVICORN_LIMITS := (.+)$", (root / "Makefile").read_text(), re.M)
    if found is None:
        raise BenchError("the Makefile defines no UVICORN_LIMITS")
    return found.group(1).split()


def petalflow_spec(
    work: Path, model: Trained, prediction_log: bool = True, root: Path = ROOT
) -> ServerSpec:
    """petalflow as `make serve` runs it, from the checkout ``root``."""
    log = str(work / f"predictions-{model.name}.db") if prediction_log else ""
    args = [sys.executable, "-m", "uvicorn", "serve:app", "--workers", "1"]
    args += ["--host", HOST, "--port", "{port}", *shipped_limits(root)]
    env = base_env(work, ARTIFACTS_DIR=str(model.artifacts_dir), PREDICTION_LOG=log)
    name = "petalflow" if prediction_log else "petalflow-nolog"
    return ServerSpec(name, args, env, "/health", root, fast_path=True)


def mlflow_spec(work: Path, model: Trained) -> ServerSpec:
    args = [str(BIN / "mlflow"), "models", "serve", "-m", f"runs:/{model.run_id}/model"]
    args += ["--env-manager", "local", "--workers", "1", "--host", HOST, "--port", "{port}"]
    return ServerSpec("mlflow", args, base_env(work), "/ping")


def floor_spec(work: Path, body_file: Path) -> ServerSpec:
    args = [sys.executable, "-m", "uvicorn", "bench.floor:app", "--workers", "1"]
    args += ["--host", HOST, "--port", "{port}", "--no-access-log"]
    return ServerSpec("floor", args, base_env(work, FLOOR_BODY_FILE=str(body_file)), "/health")


def _get(port: int, path: str) -> tuple[int | None, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return None, b""
    finally:
        conn.close()


def _fast_path_adopted(port: int) -> bool:
    status, body = _get(port, "/model")
    try:
        return status == 200 and bool(json.loads(body).get("fast_path"))
    except ValueError:
        return False


class Server:
    """A running server process; a context manager that always stops it."""

    def __init__(self, spec: ServerSpec, log: Path) -> None:
        self.spec, self.log = spec, log
        self.port = spec.port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [a.replace("{port}", str(self.port)) for a in spec.args],
            cwd=spec.cwd,
            env=spec.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 180) -> float:
        """Poll the health path until 200; seconds since the process was started."""
        while time.monotonic() - self.started < timeout:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.spec.name} exited ({self.proc.returncode}):\n{self.tail()}"
                )
            if _get(self.port, self.spec.health)[0] == 200:
                return time.monotonic() - self.started
            time.sleep(0.02)
        raise BenchError(f"{self.spec.name} not healthy after {timeout:.0f} s:\n{self.tail()}")

    def wait_ready(self, timeout: float = 180) -> None:
        """``wait_healthy``, then, for petalflow, until its fast path is adopted: the
        throughput cells measure what serves after start-up (the cold starts stop at
        the first health 200)."""
        self.wait_healthy(timeout)
        while self.spec.fast_path and not _fast_path_adopted(self.port):
            if time.monotonic() - self.started > timeout:
                raise BenchError(f"{self.spec.name}: no fast path after {timeout:.0f} s")
            time.sleep(0.02)

    def tail(self, n: int = 3000) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")[-n:]

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the process group (id = our PID), wait, then SIGKILL what is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        # Children (mlflow's uvicorn) share the group: reap any that outlived the parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post(url: str, body: bytes) -> tuple[int, bytes]:
    """One POST of a JSON body (the sanity check before a server is benchmarked)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=60)
    try:
        conn.request("POST", "/" + rest, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
