"""The docs cannot drift: the README's quick start and every curl example in docs/ run here.

In a temporary copy of the project, the README's blocks run in order (a block preceded by
``<!-- docs-test: skip (why) -->`` is not run); each ``uvicorn`` command (optionally after
``NAME=value`` settings) starts a real server on a free port standing for its ``--port``,
and ``localhost:<port>`` in later commands reaches it. Then every ``curl`` command in
docs/*.md runs against the first server.
Each documented output is checked against the real one: the same JSON keys and value
types, exact values where they are deterministic (labels, probabilities, errors), and for
an abbreviated output (with ``...``) the keys it shows.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, ServerProcess, copy_project, free_port, python_env

pytestmark = pytest.mark.e2e

COMMANDS = ("curl ", "python ", "uvicorn ", "mlflow ", "make ", "source ", "export ")
SERVER = re.compile(r"^((?:[A-Z_]+=\S+ )*)uvicorn (.*)$")  # settings, then uvicorn's args
# Values that differ from run to run: only their type is compared.
VOLATILE = {"model_version", "run_id", "latency_ms", "loaded_at", "sha256", "source"}


@dataclass
class Example:
    """One command of a doc and the output written under it."""

    doc: str
    command: str
    expected: list[str] = field(default_factory=list)


def examples(path: Path, skip_marked: bool = True) -> list[Example]:
    """The commands of ``path``'s bash blocks, with their documented outputs."""
    found: list[Example] = []
    skip = False
    block: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("<!-- docs-test: skip"):
            skip = True
        elif line.startswith("```bash") and block is None:
            block = []
        elif line.startswith("```") and block is not None:
            if not (skip and skip_marked):
                found.extend(_parse_block(path.name, block))
            block, skip = None, False
        elif block is not None:
            block.append(line)
    return found


def _parse_block(doc: str, lines: list[str]) -> list[Example]:
    parsed: list[Example] = []
    continued = False
    for line in lines:
        if continued:
            parsed[-1].command += "\n" + line
        elif line.startswith(COMMANDS) or SERVER.match(line):
            parsed.append(Example(doc, line))
        elif parsed and line.strip():
            parsed[-1].expected.append(line)
        continued = line.rstrip().endswith("\\")
    return parsed


def _strip_comment(command: str) -> str:
    return re.sub(r"\s+#[^'\"]*$", "", command)


def check_output(expected_lines: list[str], actual: str, where: str) -> None:
    """The documented output agrees with the real one (see the module docstring)."""
    expected_text = "\n".join(expected_lines)
    document = json.loads(actual)
    if "..." in expected_text:
        keys = set(re.findall(r'"(\w+)":', expected_text))
        missing = keys - set(re.findall(r'"(\w+)":', actual))
        assert not missing, f"{where}: documented keys {sorted(missing)} missing from {actual}"
        return
    _same(json.loads(expected_text), document, where)


def _same(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(expected) == set(actual), (where, actual)
        for key, value in expected.items():
            if key in VOLATILE:
                assert type(actual[key]) is type(value), (where, key, actual[key])
            else:
                _same(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, actual)
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _same(e, a, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(actual, float):
        assert math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12), (where, actual)
    else:
        assert expected == actual, (where, actual)


def _run(
    command: str, cwd: Path, env: dict[str, str], ports: dict[str, int]
) -> subprocess.CompletedProcess:
    command = _strip_comment(command)
    for documented, port in ports.items():
        command = command.replace(f"localhost:{documented}", f"127.0.0.1:{port}")
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _start(
    command: str, project: Path, env: dict[str, str], log: Path, ports: dict[str, int]
) -> ServerProcess:
    """The server of a documented ``[NAME=value ...] uvicorn ...`` command."""
    found = SERVER.match(_strip_comment(command))
    assert found is not None, command
    settings = dict(pair.split("=", 1) for pair in found.group(1).split())
    args = found.group(2).replace("0.0.0.0", "127.0.0.1").split()
    documented = args[args.index("--port") + 1]
    port = ports.setdefault(documented, free_port())
    args[args.index("--port") + 1] = str(port)
    executable = str(Path(env["PATH"].split(":")[0]) / "uvicorn")
    server = ServerProcess([executable, *args], {**env, **settings}, project, log)
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.wait_healthy()
    return server


def test_documented_examples_run_and_answer_as_documented(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    env = python_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    ports: dict[str, int] = {}
    servers: list[ServerProcess] = []
    checked = 0
    try:
        for example in examples(ROOT / "README.md"):
            where = f"README: {example.command.splitlines()[0]}"
            if SERVER.match(example.command):
                log = tmp_path / f"server-{len(servers)}.log"
                servers.append(_start(example.command, project, env, log, ports))
                continue
            result = _run(example.command, project, env, ports)
            assert result.returncode == 0, f"{where}: {result.stdout}{result.stderr}"
            if example.command.startswith("python -m petalflow.monitor"):
                served = json.loads((project / "artifacts/model_info.json").read_text())
                assert f"model {served['run_id']}" in result.stdout, result.stdout
            if example.expected:
                check_output(example.expected, result.stdout, where)
                checked += 1
        assert servers, "the README's quick start starts no server"
        first = {"8000": servers[0].port}
        for doc in sorted((ROOT / "docs").glob("*.md")):
            for example in examples(doc):
                if not example.command.startswith("curl "):
                    continue
                where = f"{doc.name}: {example.command.splitlines()[0]}"
                result = _run(example.command, project, env, first)
                assert result.returncode == 0, f"{where}: {result.stderr}"
                if example.expected:
                    check_output(example.expected, result.stdout, where)
                    checked += 1
    finally:
        for server in servers:
            server.stop()
    assert checked >= 10, f"only {checked} documented outputs were checked"


def test_check_output_fails_when_an_example_changes() -> None:
    """A documented output that no longer matches fails (e.g. a changed label)."""
    actual = '{"predicted_label":"setosa","class_probabilities":{"setosa":0.98},"latency_ms":0.1}'
    documented = [
        '{"predicted_label":"versicolor","class_probabilities":{"setosa":0.98},"latency_ms":0.2}'
    ]
    with pytest.raises(AssertionError):
        check_output(documented, actual, "example")
    renamed = ['{"label":"setosa","class_probabilities":{...}}']
    with pytest.raises(AssertionError, match="label"):
        check_output(renamed, actual, "example")
    check_output(
        ['{"predicted_label":"setosa","class_probabilities":{"setosa":0.98},"latency_ms":7.5}'],
        actual,
        "ok",
    )
