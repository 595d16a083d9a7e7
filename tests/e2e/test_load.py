"""A real `uvicorn serve:app` under concurrent load: no errors, valid bodies, flat memory.

64 clients, each with its own loopback connection, send 50 requests apiece, mostly
/predict with random Iris-like rows and some /predict/batch, with the prediction log
on. A second run mixes in invalid requests (bad fields, malformed JSON, wrong content
type, oversized bodies): each must get its 4xx JSON error and the server must stay up.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.load]

CLIENTS = 64
REQUESTS_PER_CLIENT = 50
WARMUP_REQUESTS = 320
MAX_RSS_GROWTH_MB = 50
BATCH_SHARE = 0.2
INVALID_SHARE = 0.35
TIMEOUT = httpx.Timeout(30.0)
PHASE_TIMEOUT_S = 300
# Iris measurement ranges in cm, widened a little.
RANGES = {
    "sepal_length": (4.0, 8.2),
    "sepal_width": (1.8, 4.6),
    "petal_length": (0.8, 7.2),
    "petal_width": (0.1, 2.7),
}
ERROR_KEYS = {"error", "message", "details", "request_id"}
OVERSIZED = b'{"instances": [' + b" " * (1 << 20) + b"]}"  # over the 1 MiB body limit

Check = Callable[[httpx.Response], None]
# One planned request: request id, path, httpx keyword arguments, check of the response.
Planned = tuple[str, str, dict[str, Any], Check]


def random_row(rng: random.Random) -> dict[str, float | int]:
    row: dict[str, float | int] = {
        name: round(rng.uniform(low, high), rng.choice((1, 2, 6)))
        for name, (low, high) in RANGES.items()
    }
    if rng.random() < 0.1:  # ints are accepted as floats
        row["sepal_length"] = rng.choice((5, 6, 7))
    return row


@pytest.fixture()
def server(start_server: Any, trained: Path, tmp_path: Path) -> ServerProcess:
    server: ServerProcess = start_server(
        {
            "ARTIFACTS_DIR": str(trained),
            "PREDICTION_LOG": str(tmp_path / "load-predictions.db"),
            "MODEL_URI": None,
        }
    )
    return server


@pytest.fixture()
def expected(trained: Path, server: ServerProcess) -> dict[str, Any]:
    """What every answer must carry: the run id and the class names."""
    model = httpx.get(server.url + "/model", timeout=TIMEOUT).json()
    run_id = json.loads((trained / "model_info.json").read_text())["run_id"]
    assert model["model_version"] == run_id
    return {"model_version": run_id, "classes": list(model["class_names"])}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def check_prediction(prediction: dict[str, Any], classes: list[str]) -> None:
    probabilities = prediction["class_probabilities"]
    assert sorted(probabilities) == sorted(classes)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values()), probabilities
    assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-9), probabilities
    assert prediction["predicted_label"] in classes
    assert prediction["predicted_label"] == max(probabilities, key=probabilities.__getitem__)


def check_predict(expected: dict[str, Any]) -> Check:
    def check(response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {
            "predicted_label",
            "class_probabilities",
            "model_version",
            "latency_ms",
        }
        assert body["model_version"] == expected["model_version"], body["model_version"]
        assert isinstance(body["latency_ms"], float) and body["latency_ms"] >= 0
        check_prediction(body, expected["classes"])

    return check


def check_batch(expected: dict[str, Any], rows: int) -> Check:
    def check(response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"predictions", "model_version", "latency_ms"}
        assert body["model_version"] == expected["model_version"], body["model_version"]
        assert body["latency_ms"] >= 0
        assert len(body["predictions"]) == rows
        for prediction in body["predictions"]:
            assert set(prediction) == {"predicted_label", "class_probabilities"}
            check_prediction(prediction, expected["classes"])

    return check


def check_error(statuses: set[int], field: str | None = None) -> Check:
    def check(response: httpx.Response) -> None:
        assert response.status_code in statuses, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == ERROR_KEYS, body
        assert body["request_id"] == response.headers["x-request-id"]
        assert isinstance(body["message"], str) and body["message"]
        assert "Traceback" not in response.text
        if field is not None:
            assert field in body["message"], body

    return check


def valid_request(
    rng: random.Random, expected: dict[str, Any]
) -> tuple[str, dict[str, Any], Check, int]:
    """(path, httpx kwargs, check, rows predicted)."""
    if rng.random() < BATCH_SHARE:
        rows = rng.randint(1, 40)
        instances = [random_row(rng) for _ in range(rows)]
        return (
            "/predict/batch",
            {"json": {"instances": instances}},
            check_batch(expected, rows),
            rows,
        )
    return "/predict", {"json": random_row(rng)}, check_predict(expected), 1


def invalid_request(rng: random.Random) -> tuple[str, dict[str, Any], Check]:
    row = random_row(rng)
    field = rng.choice(list(RANGES))
    kind = rng.randrange(12)
    if kind == 0:
        del row[field]
        return "/predict", {"json": row}, check_error({422}, field)
    if kind == 1:
        return "/predict", {"json": {**row, field: str(row[field])}}, check_error({422}, field)
    if kind == 2:
        value = rng.choice((0, -1.5, 100.01, 1e9, True, None, [1.0]))
        return "/predict", {"json": {**row, field: value}}, check_error({422}, field)
    if kind == 3:
        return "/predict", {"json": {**row, "colour": "blue"}}, check_error({422}, "colour")
    if kind == 4:
        not_finite = rng.choice(("NaN", "Infinity", "-Infinity"))
        text = json.dumps({**row, field: "@"}).replace('"@"', not_finite)
        return (
            "/predict",
            {"content": text, "headers": {"content-type": "application/json"}},
            check_error({400, 422}, field),
        )
    if kind == 5:
        text = json.dumps(row)[: rng.randint(0, 40)]
        return (
            "/predict",
            {"content": text, "headers": {"content-type": "application/json"}},
            check_error({400, 422}),
        )
    if kind == 6:
        body = rng.choice(("[1, 2, 3]", '"flower"', "42", "null"))
        return (
            "/predict",
            {"content": body, "headers": {"content-type": "application/json"}},
            check_error({400, 422}),
        )
    if kind == 7:
        return (
            "/predict",
            {"content": json.dumps(row), "headers": {"content-type": "text/plain"}},
            check_error({415}),
        )
    if kind == 8:
        bad = [random_row(rng), {**random_row(rng), field: -1}]
        return "/predict/batch", {"json": {"instances": bad}}, check_error({422}, field)
    if kind == 9:
        return "/predict/batch", {"json": {"instances": []}}, check_error({422}, "instances")
    if kind == 10:  # over 1 MiB, with a Content-Length
        return (
            "/predict/batch",
            {"content": OVERSIZED, "headers": {"content-type": "application/json"}},
            check_error({413}),
        )

    async def chunks() -> AsyncIterator[bytes]:  # over 1 MiB, chunked
        yield b'{"instances": ['
        for _ in range(20):
            yield b" " * 65536
        yield b"]}"

    return (
        "/predict/batch",
        {"content": chunks(), "headers": {"content-type": "application/json"}},
        check_error({413}),
    )


async def drive(
    url: str,
    plans: list[list[Planned]],
) -> list[str]:
    """Send each plan on its own client, all concurrently; the failures, as text."""
    failures: list[str] = []

    async def client(plan: list[Planned]) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits) as http:
            for request_id, path, kwargs, check in plan:
                headers = {**kwargs.get("headers", {}), "x-request-id": request_id}
                try:
                    response = await http.post(path, **{**kwargs, "headers": headers})
                    assert response.headers.get("x-request-id") == request_id
                    check(response)
                except (AssertionError, httpx.HTTPError, ValueError, KeyError) as exc:
                    failures.append(f"{request_id} POST {path}: {type(exc).__name__}: {exc}"[:500])

    await asyncio.wait_for(asyncio.gather(*(client(plan) for plan in plans)), PHASE_TIMEOUT_S)
    return failures


def run(url: str, plans: list[list[Planned]]) -> list[str]:
    return asyncio.run(drive(url, plans))


def logged_ids(db: Path, prefix: str) -> set[tuple[str, int]]:
    """(request id, rows predicted) of the logged requests: one log row per request."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT request_id, n_rows FROM predictions WHERE request_id LIKE ?", (f"{prefix}%",)
        ).fetchall()
    return {(row[0], row[1]) for row in rows}


def wait_logged(
    db: Path, wanted: set[tuple[str, int]], prefix: str, timeout: float = 30
) -> set[tuple[str, int]]:
    """The (id, rows) of the log once ``wanted`` are all there (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = logged_ids(db, prefix)
        if wanted <= ids or time.monotonic() > deadline:
            return ids
        time.sleep(0.2)


def plan_valid(
    prefix: str, clients: int, per_client: int, expected: dict[str, Any], seed: int
) -> tuple[list[list[Planned]], set[tuple[str, int]]]:
    """Plans of valid requests and the (request id, rows) the log should hold for them."""
    plans: list[list[Planned]] = []
    logged: set[tuple[str, int]] = set()
    for c in range(clients):
        rng = random.Random(seed * 1000 + c)
        plan = []
        for i in range(per_client):
            request_id = f"{prefix}-{c}-{i}"
            path, kwargs, check, rows = valid_request(rng, expected)
            plan.append((request_id, path, kwargs, check))
            logged.add((request_id, rows))
        plans.append(plan)
    return plans, logged


def _statuses(lines: list[dict[str, Any]]) -> list[int]:
    return [int(line["status"]) for line in lines if "status" in line]


def assert_server_clean(server: ServerProcess, requests: int) -> None:
    """Still running; no traceback and no 5xx in the JSON lines logged for ``requests``."""
    assert server.proc.poll() is None, server.output()[-3000:]
    lines = server.json_lines(until=lambda lines: len(_statuses(lines)) >= requests)
    assert "Traceback" not in server.output()
    statuses = _statuses(lines)
    assert len(statuses) >= requests
    assert [s for s in statuses if s >= 500] == []


def test_uvicorn_load_answers_every_valid_request_with_flat_memory(
    server: ServerProcess, expected: dict[str, Any], tmp_path: Path
) -> None:
    pid = server.proc.pid
    warmup, _ = plan_valid("warm", CLIENTS, WARMUP_REQUESTS // CLIENTS, expected, seed=1)
    assert run(server.url, warmup) == []
    before = rss_mb(pid)

    plans, logged = plan_valid("load", CLIENTS, REQUESTS_PER_CLIENT, expected, seed=2)
    start = time.monotonic()
    failures = run(server.url, plans)
    elapsed = time.monotonic() - start
    after = rss_mb(pid)

    total, rows = CLIENTS * REQUESTS_PER_CLIENT, sum(n for _, n in logged)
    print(
        f"\n{total} requests ({rows} rows) by {CLIENTS} clients in {elapsed:.1f}s "
        f"({total / elapsed:.0f} req/s); RSS {before:.1f} -> {after:.1f} MB "
        f"(+{after - before:.1f} MB)"
    )
    assert failures == [], f"{len(failures)} of {total} failed, e.g. {failures[:5]}"
    assert after - before < MAX_RSS_GROWTH_MB, f"RSS grew {before:.1f} -> {after:.1f} MB"
    # Every request reaches the prediction log once, with all its predicted rows.
    ids = wait_logged(tmp_path / "load-predictions.db", logged, "load-")
    assert ids == logged, f"{len(logged - ids)} missing, {len(ids - logged)} unexpected"
    assert_server_clean(server, WARMUP_REQUESTS + total)


def test_uvicorn_load_rejects_invalid_requests_with_json_4xx_and_stays_healthy(
    server: ServerProcess, expected: dict[str, Any]
) -> None:
    plans: list[list[Planned]] = []
    invalid = 0
    for c in range(CLIENTS):
        rng = random.Random(3000 + c)
        plan = []
        for i in range(REQUESTS_PER_CLIENT):
            request_id = f"mixed-{c}-{i}"
            if rng.random() < INVALID_SHARE:
                path, kwargs, check = invalid_request(rng)
                invalid += 1
            else:
                path, kwargs, check, _ = valid_request(rng, expected)
            plan.append((request_id, path, kwargs, check))
        plans.append(plan)

    failures = run(server.url, plans)

    total = CLIENTS * REQUESTS_PER_CLIENT
    assert invalid > total * INVALID_SHARE * 0.8
    assert failures == [], f"{len(failures)} of {total} failed, e.g. {failures[:5]}"
    assert httpx.get(server.url + "/health", timeout=TIMEOUT).json() == {"status": "ok"}
    check_predict(expected)(
        httpx.post(server.url + "/predict", json=random_row(random.Random(0)), timeout=TIMEOUT)
    )
    assert_server_clean(server, total + 2)
