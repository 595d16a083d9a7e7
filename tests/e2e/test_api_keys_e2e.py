"""API keys on a real `uvicorn serve:app` (SPEC 9, issue 15 point 5): 401 without a key,
403 with a wrong one, success with a right one; /health open; no key in any log line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

KEY_A = "e2e-alpha-Xq7Lr2Vp9sT4mW8z"
KEY_B = "e2e-bravo-Hn3Kd6Fj1Gc5Bx0y"
WRONG = "e2e-wrong-Zz9Yy8Xx7Ww6Vv5u"
GOOD = {"sepal_length": 6.3, "sepal_width": 2.9, "petal_length": 5.6, "petal_width": 1.8}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _three_ways(url: str, right: str, **request: Any) -> tuple[httpx.Response, ...]:
    """The same request without a key, with a wrong one and with ``right``."""
    method = request.pop("method", "POST")
    headers = request.pop("headers", {})
    return tuple(
        httpx.request(method, url, headers={**headers, **extra}, timeout=10, **request)
        for extra in ({}, _bearer(WRONG), _bearer(right))
    )


def _assert_refused(missing: httpx.Response, wrong: httpx.Response) -> None:
    assert missing.status_code == 401, missing.text
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"] == "unauthorized"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    assert wrong.status_code == 403, wrong.text
    assert wrong.json()["error"] == "forbidden"


def _stopped_output(server: ServerProcess) -> str:
    """Everything the server wrote, once it has stopped (its log flushed and closed)."""
    server.stop()
    return server.log.read_text(errors="replace")


def _log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _feedback(url: str, request_id: str, label: str, key: str) -> httpx.Response:
    """Feedback with a right key, once the prediction log holds the prediction."""
    for _ in range(50):
        response = httpx.post(
            url, json={"request_id": request_id, "true_label": label}, headers=_bearer(key)
        )
        if response.status_code != 503:  # not yet written by the log's writer
            return response
        time.sleep(0.1)
    return response


def test_keys_protect_feedback_and_admin_and_are_never_logged(start_server, trained: Path) -> None:
    server = start_server(
        {"ARTIFACTS_DIR": str(trained), "API_KEYS": f"{KEY_A}, {KEY_B}", "LOG_LEVEL": "DEBUG"}
    )
    for path in ("/health", "/ping"):  # open, always
        assert httpx.get(server.url + path).status_code == 200
    predicted = httpx.post(server.url + "/predict", json=GOOD, headers={"X-Request-ID": "k-1"})
    assert predicted.status_code == 200  # PROTECT_PREDICT is off
    label = predicted.json()["predicted_label"]

    body = {"request_id": "k-1", "true_label": label}
    for key in (None, WRONG):
        headers = _bearer(key) if key else {}
        refused = httpx.post(server.url + "/feedback", json=body, headers=headers)
        assert refused.status_code == (403 if key else 401), refused.text
    labelled = _feedback(server.url + "/feedback", "k-1", label, KEY_B)
    assert labelled.status_code == 200, labelled.text
    assert labelled.json()["correct"] is True

    # Protected by path: an /admin path no route answers is 401/403 without the right key,
    # and only with it reaches the router (404).
    missing, wrong, right = _three_ways(server.url + "/admin/x", KEY_A, method="GET")
    _assert_refused(missing, wrong)
    assert right.status_code == 404 and right.json()["error"] == "not_found"
    missing, wrong, right = _three_ways(server.url + "/admin/reload", KEY_A)
    _assert_refused(missing, wrong)
    assert right.status_code == 200 and right.json()["outcome"] == "unchanged"

    metrics = httpx.get(server.url + "/metrics").text  # /metrics stays open
    assert 'petalflow_auth_failures_total{reason="missing"} 3.0' in metrics
    assert 'petalflow_auth_failures_total{reason="wrong_key"} 3.0' in metrics

    output = _stopped_output(server)
    for secret in (KEY_A, KEY_B, WRONG):
        assert secret not in output
        assert secret[10:] not in output  # nor a piece of one
    assert "bearer " not in output.lower()
    lines = _log_lines(output)
    assert any(line["level"] == "DEBUG" for line in lines)  # LOG_LEVEL=DEBUG took effect
    refused = [line for line in lines if line.get("status") in (401, 403)]
    assert {(line["path"], line["status"]) for line in refused} == {
        (path, status)
        for path in ("/feedback", "/admin/x", "/admin/reload")
        for status in (401, 403)
    }
    assert any("API keys: 2; a key is needed on /admin" in line["message"] for line in lines)


def test_protect_predict_extends_the_rules_to_the_prediction_routes(
    start_server, trained: Path, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"# clients\n{KEY_A}\n\n{KEY_B}\n")
    server = start_server(
        {
            "ARTIFACTS_DIR": str(trained),
            "API_KEYS_FILE": str(keys_file),
            "PROTECT_PREDICT": "true",
            "LOG_LEVEL": "DEBUG",
        }
    )
    assert httpx.get(server.url + "/health").status_code == 200
    cases = {
        "/predict": GOOD,
        "/predict/batch": {"instances": [GOOD, GOOD]},
        "/invocations": {"dataframe_records": [GOOD]},
    }
    answers = {}
    for path, body in cases.items():
        missing, wrong, right = _three_ways(server.url + path, KEY_B, json=body)
        _assert_refused(missing, wrong)
        assert right.status_code == 200, right.text
        answers[path] = right.json()
    assert answers["/predict"]["predicted_label"] == "virginica"
    assert [p["predicted_label"] for p in answers["/predict/batch"]["predictions"]] == [
        "virginica",
        "virginica",
    ]
    assert answers["/invocations"] == {"predictions": ["virginica"]}
    refused = httpx.post(server.url + "/invocations", json=cases["/invocations"])
    assert refused.json()["error_code"] == "UNAUTHENTICATED"  # MLflow's code for a 401
    output = _stopped_output(server)
    assert KEY_A not in output and KEY_B not in output and WRONG not in output


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"API_KEYS": f"{KEY_A},secret with spaces inside"}, "API_KEYS: key 2 has whitespace"),
        ({"API_KEYS_FILE": "/nonexistent/keys.txt"}, "API_KEYS_FILE: cannot read"),
        ({"PROTECT_PREDICT": "true"}, "PROTECT_PREDICT=true needs keys"),
    ],
)
def test_unusable_keys_stop_the_server_with_one_clear_line(
    start_server, trained: Path, env: dict[str, str], named: str
) -> None:
    server: ServerProcess = start_server({"ARTIFACTS_DIR": str(trained), **env}, healthy=False)
    assert server.proc.wait(timeout=60) != 0
    output = server.output()
    assert "Traceback" not in output
    errors = [line for line in _log_lines(output) if line["level"] == "ERROR"]
    assert len(errors) == 1, output
    assert named in errors[0]["message"]
    assert KEY_A not in output and "secret with" not in output
