"""A real `uvicorn serve:app` process: serving, startup failures, penguins (MLflow parity: test_mlflow_compat.py)."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ServerProcess,
    makefile_limits,
    train_into,
    uvicorn_args,
    wait_for_fast_path,
)

pytestmark = pytest.mark.e2e
GOOD = {"sepal_length": 6.3, "sepal_width": 2.9, "petal_length": 5.6, "petal_width": 1.8}


def test_uvicorn_serves_predictions_and_logs_json_lines(start_server, trained: Path) -> None:
    server = start_server({"ARTIFACTS_DIR": str(trained)})
    response = httpx.post(server.url + "/predict", json=GOOD, headers={"X-Request-ID": "e2e-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "e2e-1"
    body = response.json()
    assert body["model_version"] == json.loads((trained / "model_info.json").read_text())["run_id"]
    assert body["predicted_label"] == "virginica"
    lines = server.json_lines(
        until=lambda lines: any(x.get("request_id") == "e2e-1" for x in lines)
    )
    request_lines = [line for line in lines if line.get("request_id") == "e2e-1"]
    assert len(request_lines) == 1
    assert request_lines[0]["status"] == 200 and request_lines[0]["path"] == "/predict"
    assert request_lines[0]["model_version"] == body["model_version"]
    assert any("serving model" in line["message"] for line in lines)


def test_uvicorn_logs_the_requests_it_finishes_after_sigterm(start_server, trained: Path) -> None:
    """uvicorn finishes a request in flight, then dies by the SIGTERM it re-raises: the
    request's access line, deferred up to 0.1 s, is written by the app's shutdown."""
    server = start_server({"ARTIFACTS_DIR": str(trained)})
    body = json.dumps(GOOD).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-Request-ID: in-flight-1\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10]
        )
        server.json_lines(until=lambda lines: False, timeout=0.5)  # the head is in
        os.kill(server.proc.pid, signal.SIGTERM)
        server.json_lines(until=lambda lines: False, timeout=0.5)  # the shutdown is on
        sock.sendall(body[10:])
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in answer.lower()  # answered during the shutdown
    assert server.proc.wait(timeout=20) in (0, -signal.SIGTERM)
    lines = [line for line in server.json_lines() if line.get("request_id") == "in-flight-1"]
    assert [(line["path"], line["status"]) for line in lines] == [("/predict", 200)]


def test_uvicorn_answers_a_columnar_batch_as_the_row_form(start_server, trained: Path) -> None:
    server = start_server({"ARTIFACTS_DIR": str(trained)})
    other = {"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2}
    columns = ["petal_width", "petal_length", "sepal_width", "sepal_length"]
    body = {"columns": columns, "data": [[row[c] for c in columns] for row in (GOOD, other)]}
    columnar = httpx.post(server.url + "/predict/batch", json=body)
    rows = httpx.post(server.url + "/predict/batch", json={"instances": [GOOD, other]})
    assert columnar.status_code == rows.status_code == 200, (columnar.text, rows.text)
    answer, predictions = columnar.json(), rows.json()["predictions"]
    assert (
        answer["labels"] == [p["predicted_label"] for p in predictions] == ["virginica", "setosa"]
    )
    classes = answer["classes"]
    assert answer["probabilities"] == [
        [p["class_probabilities"][c] for c in classes] for p in predictions
    ]
    assert columnar.headers["x-model-version"] == answer["model_version"]


def _failed_start(start_server, env: dict[str, str | None]) -> str:
    server: ServerProcess = start_server(env, healthy=False)
    try:
        server.proc.wait(timeout=60)
    except Exception:
        pytest.fail(f"server did not exit within 60 s: {server.output()}")
    assert server.proc.returncode != 0
    output = server.output()
    assert "Traceback" not in output
    errors = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"ERROR"' in line
    ]
    assert len(errors) == 1, output
    return str(errors[0]["message"])


def test_uvicorn_exits_on_missing_model(start_server, tmp_path: Path) -> None:
    message = _failed_start(start_server, {"ARTIFACTS_DIR": str(tmp_path / "nothing")})
    assert "python train.py" in message


def test_uvicorn_exits_on_tampered_model(start_server, trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(trained, copy)
    data = bytearray((copy / "model.joblib").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.joblib").write_bytes(bytes(data))
    message = _failed_start(start_server, {"ARTIFACTS_DIR": str(copy)})
    assert "sha256" in message and "refusing" in message


def test_uvicorn_exits_on_unknown_alias(start_server, tmp_path: Path, tracking_uri: str) -> None:
    train_into(tmp_path / "a", "--register-model", "iris-classifier", "--alias", "champion")
    message = _failed_start(
        start_server,
        {"MODEL_URI": "models:/iris-classifier@nope", "MLFLOW_TRACKING_URI": tracking_uri},
    )
    assert "models:/iris-classifier@nope" in message


def test_uvicorn_exits_on_a_tracking_database_that_is_not_there(
    start_server, tmp_path: Path
) -> None:
    # A mistyped sqlite path: MLflow would create an empty store there, and the error
    # would be a model "not found" in it.
    uri = f"sqlite:///{tmp_path / 'typo' / 'mlfow.db'}"
    env = {"MODEL_URI": "models:/iris-classifier@champion", "MLFLOW_TRACKING_URI": uri}
    message = _failed_start(start_server, env)
    assert f"there is no MLflow store at {uri}" in message
    assert not (tmp_path / "typo").exists()


def test_uvicorn_exits_when_the_tracking_server_never_answers(start_server, tmp_path: Path) -> None:
    # It answers /health (so it looks up) and holds every API call open: MLflow's own
    # HTTP defaults (120 s per request, 7 retries) would hold start-up for half an hour.
    stop = threading.Event()

    class Silent(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
                return
            stop.wait(300)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    silent = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    silent.daemon_threads = True
    threading.Thread(target=silent.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{silent.server_address[1]}"
    try:
        env = {"MODEL_URI": "models:/iris-classifier@champion", "MLFLOW_TRACKING_URI": uri}
        message = _failed_start(start_server, env)  # within 60 s, one line
    finally:
        stop.set()
        silent.shutdown()
        silent.server_close()
    assert "models:/iris-classifier@champion" in message


def test_uvicorn_serves_registry_alias(start_server, tmp_path: Path, tracking_uri: str) -> None:
    art = train_into(tmp_path / "a", "--register-model", "iris-classifier", "--alias", "champion")
    run_id = json.loads((art / "model_info.json").read_text())["run_id"]
    local = start_server({"ARTIFACTS_DIR": str(art), "MLFLOW_TRACKING_URI": tracking_uri})
    remote = start_server(
        {"MODEL_URI": "models:/iris-classifier@champion", "MLFLOW_TRACKING_URI": tracking_uri}
    )
    a = httpx.post(local.url + "/predict", json=GOOD).json()
    b = httpx.post(remote.url + "/predict", json=GOOD).json()
    assert a["model_version"] == b["model_version"] == run_id
    assert a["class_probabilities"] == b["class_probabilities"]
    assert httpx.get(remote.url + "/model").json()["source"] == "models:/iris-classifier@champion"
    assert "Downloading artifacts" not in remote.output()  # MLflow's progress bars


def test_uvicorn_exits_on_invalid_setting(start_server, trained: Path) -> None:
    message = _failed_start(start_server, {"ARTIFACTS_DIR": str(trained), "MAX_BATCH_ROWS": "lots"})
    assert "MAX_BATCH_ROWS" in message


PENGUINS = [  # the first penguins of the table, the fourth with nothing measured
    ["Torgersen", 39.1, 18.7, 181, 3750, "male"],
    ["Torgersen", None, None, None, None, None],
    ["Biscoe", 45.2, 14.8, 212, 5200, None],
    ["Dream", 49.5, 19.0, 200, 3800, "male"],
]
PENGUIN_COLUMNS = [
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
]


@pytest.mark.slow
def test_penguins_model_served_by_uvicorn_answers_like_its_pipeline(
    start_server, tmp_path: Path
) -> None:
    import joblib
    import numpy as np
    import pandas as pd

    folder = train_into(tmp_path / "penguins", "--dataset", "penguins", "--model", "rf")
    ours = start_server({"ARTIFACTS_DIR": str(folder)})
    wait_for_fast_path(lambda path: httpx.get(ours.url + path))
    model = joblib.load(folder / "model.joblib")
    frame = pd.DataFrame(PENGUINS, columns=PENGUIN_COLUMNS)
    frame[PENGUIN_COLUMNS[1:5]] = frame[PENGUIN_COLUMNS[1:5]].astype(float)
    expected = model.predict_proba(frame)
    classes = [str(c) for c in model.classes_]
    records = [dict(zip(PENGUIN_COLUMNS, row, strict=True)) for row in PENGUINS]
    for record, want in zip(records, expected, strict=True):
        answer = httpx.post(ours.url + "/predict", json=record).json()
        got = [answer["class_probabilities"][c] for c in classes]
        assert np.allclose(got, want, atol=1e-9, rtol=0), record
    batch = httpx.post(ours.url + "/predict/batch", json={"instances": records}).json()
    got = [[p["class_probabilities"][c] for c in classes] for p in batch["predictions"]]
    assert np.allclose(got, expected, atol=1e-9, rtol=0)

    payload = {"dataframe_split": {"columns": PENGUIN_COLUMNS, "data": PENGUINS}}
    invoked = httpx.post(ours.url + "/invocations", json=payload)
    assert invoked.status_code == 200, invoked.text
    assert invoked.json() == {"predictions": [classes[i] for i in expected.argmax(axis=1)]}


def _write_calls(pid: int) -> int:
    """The write-like system calls process ``pid`` has made (``syscw`` in /proc)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError(f"no syscw in /proc/{pid}/io")


def _responses(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` HTTP responses read off ``sock``: (status line, body) each."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            end = head_end + 4 + length
            if len(data) >= end:
                answers.append((data.split(b"\r\n")[0], data[head_end + 4 : end]))
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(answers)} responses"
        data += chunk
    return answers


def test_uvicorn_sends_each_response_in_one_write_and_pipelined_ones_in_order(
    start_server, trained: Path
) -> None:
    # No prediction log and no access lines: the responses are the only writes.
    env = {"ARTIFACTS_DIR": str(trained), "PREDICTION_LOG": "", "LOG_LEVEL": "WARNING"}
    server = start_server(env, uvicorn_args(*makefile_limits()))  # as `make serve` runs it
    setosa = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    rows = [GOOD, setosa]
    requests = []
    for i, row in enumerate(rows):
        body = json.dumps(row).encode()
        head = f"POST /predict HTTP/1.1\r\nhost: t\r\nx-request-id: p{i}\r\n"
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        requests.append(head.encode() + body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(requests[0])
        _responses(sock, 1)  # warm: the first request's one-time work is not counted
        before = _write_calls(server.proc.pid)
        for _ in range(100):
            sock.sendall(requests[0])
            assert _responses(sock, 1)[0][0] == b"HTTP/1.1 200 OK"
        writes = _write_calls(server.proc.pid) - before
        sock.sendall(b"".join(requests * 3))  # six pipelined requests in one segment
        answers = _responses(sock, 6)
    assert writes <= 110, f"{writes} writes for 100 responses (uvicorn alone makes 2 each)"
    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * 6
    labels = [json.loads(body)["predicted_label"] for _, body in answers]
    assert labels == ["virginica", "setosa"] * 3


def test_uvicorn_answers_head_as_get_without_a_body(start_server, trained: Path) -> None:
    server = start_server({"ARTIFACTS_DIR": str(trained)})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        answers = {}
        for method, path in [
            ("GET", "/health"),
            ("HEAD", "/health"),
            ("HEAD", "/model"),
            ("HEAD", "/predict"),
            ("HEAD", "/no-such-path"),
        ]:
            conn.request(method, path, headers={"X-Request-ID": f"head-{method}-{path.strip('/')}"})
            response = conn.getresponse()
            answers[method, path] = (
                response.status,
                response.getheader("content-length"),
                response.read(),
            )
    finally:
        conn.close()
    status, length, body = answers["GET", "/health"]
    assert status == 200 and int(length) == len(body) > 0
    # The same headers as GET's (its content length), no body; the connection stays usable.
    assert answers["HEAD", "/health"] == (200, length, b"")
    assert answers["HEAD", "/model"][0] == 200 and answers["HEAD", "/model"][2] == b""
    assert answers["HEAD", "/predict"][0] == 405  # POST only
    assert answers["HEAD", "/no-such-path"][0] == 404
    lines = server.json_lines(
        until=lambda lines: any(x.get("request_id") == "head-HEAD-no-such-path" for x in lines)
    )
    logged = {x["request_id"]: x for x in lines if str(x.get("request_id")).startswith("head-")}
    assert logged["head-HEAD-health"]["method"] == "HEAD"
    assert logged["head-HEAD-health"]["status"] == 200
    metrics = httpx.get(server.url + "/metrics").text
    assert any(
        line.startswith("petalflow_requests_total{")
        and 'method="HEAD"' in line
        and 'route="/health"' in line
        for line in metrics.splitlines()
    )
