"""API keys: the key rules, API_KEYS and API_KEYS_FILE parsing, the guard's paths and check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlflow.exceptions import ERROR_CODE_TO_HTTP_STATUS
from pydantic import SecretStr, ValidationError

from petalflow.core.errors import MissingApiKeyError, WrongApiKeyError
from petalflow.serving import api_keys
from petalflow.serving.api_keys import (
    KeyGuard,
    check_key,
    configured_keys,
    parse_keys,
    read_keys_file,
)
from petalflow.serving.app import create_app
from petalflow.serving.settings import Settings
from tests.conftest import make_settings

KEY_A = "alpha-key-0123456789abcdef"
KEY_B = "bravo_key_ABCDEFGHIJ0123456"
KEY_C = "charlie.key~+/=0123456789xyz"
ALL_KEYS = (KEY_A, KEY_B, KEY_C)
PREDICTIONS = ("/predict", "/predict/batch", "/invocations")
GOOD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("abcdefgh ijklmnopq", "whitespace inside"),
        ("abcdefgh\tijklmnopq", "whitespace inside"),
        ("abcdefghijklmnopq\u00e9", "not printable ASCII"),
        ("abcdefghij\x07klmnopq", "not printable ASCII"),
        ("abcdefgh,ijklmnopq", "comma"),
        ("#abcdefghijklmnopq", "starts with #"),
        ("abcdefghijklmno", "shorter than 16"),
    ],
)
def test_check_key_refuses_unusable_keys_without_quoting_them(key: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        check_key(key, "API_KEYS: key 3")
    message = str(refused.value)
    assert message.startswith("API_KEYS: key 3 ")
    assert key not in message and key[:8] not in message


@pytest.mark.parametrize("key", ["a" * 16, KEY_A, KEY_B, KEY_C, "!#$%&'()*+-./:;<=>?@[]^_`{|}~"])
def test_check_key_accepts_printable_ascii_keys(key: str) -> None:
    check_key(key, "API_KEYS: key 1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KEY_A, [KEY_A]),
        (f"{KEY_A},{KEY_B}", [KEY_A, KEY_B]),
        (f" {KEY_A} , {KEY_B} ,{KEY_C}", [KEY_A, KEY_B, KEY_C]),
        (f"{KEY_A},,{KEY_B},", [KEY_A, KEY_B]),
        ("", []),
        ("   ", []),
    ],
)
def test_parse_keys_splits_on_commas(text: str, expected: list[str]) -> None:
    assert [key.get_secret_value() for key in parse_keys(text)] == expected


def test_parse_keys_names_the_refused_key_by_position() -> None:
    with pytest.raises(ValueError, match="API_KEYS: key 2 is shorter than 16") as refused:
        parse_keys(f"{KEY_A}, tooshort ,{KEY_B}")
    assert "tooshort" not in str(refused.value)


def test_parse_keys_refuses_a_value_of_only_commas() -> None:
    with pytest.raises(ValueError, match="API_KEYS holds no key"):
        parse_keys(" , ,")


def test_read_keys_file_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_bytes(
        f"# rotated 2026-11\n{KEY_A}\r\n\n   \n  {KEY_B}  \n\t# old: none\n{KEY_C}".encode()
    )
    assert [key.get_secret_value() for key in read_keys_file(path)] == [KEY_A, KEY_B, KEY_C]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "API_KEYS_FILE: cannot read .*No such file or directory"),
        (b"", "API_KEYS_FILE: .* holds no key"),
        (b"\n  \n# only a comment\n", "API_KEYS_FILE: .* holds no key"),
        (b"abcdefghijklmnopq\xff\xfe\n", "API_KEYS_FILE: .* is not UTF-8 text"),
        (f"{KEY_A}\n\nsecret value with spaces\n".encode(), "line 3 of .* has whitespace"),
    ],
)
def test_read_keys_file_errors_name_the_setting(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "keys"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as refused:
        read_keys_file(path)
    assert "secret value" not in str(refused.value) and "abcdefghijklmnopq" not in str(
        refused.value
    )


def test_read_keys_file_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"API_KEYS_FILE: cannot read .*Is a directory"):
        read_keys_file(tmp_path)


def test_configured_keys_takes_one_source(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"{KEY_B}\n")
    assert configured_keys(None, None, protect_predict=False) == ()
    from_file = configured_keys(SecretStr(""), path, protect_predict=True)  # blank = unset
    assert [key.get_secret_value() for key in from_file] == [KEY_B]
    with pytest.raises(ValueError, match="API_KEYS and API_KEYS_FILE are both set"):
        configured_keys(SecretStr(KEY_A), path, protect_predict=False)
    with pytest.raises(ValueError, match="PROTECT_PREDICT=true needs keys"):
        configured_keys(None, None, protect_predict=True)


def test_settings_read_keys_from_the_environment_and_never_show_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_KEYS", f"{KEY_A}, {KEY_B}")
    monkeypatch.setenv("PROTECT_PREDICT", "true")
    settings = Settings()
    assert [key.get_secret_value() for key in settings.bearer_keys] == [KEY_A, KEY_B]
    assert settings.protect_predict is True
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert KEY_A not in shown and KEY_B not in shown


def test_settings_errors_never_show_the_refused_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", f"{KEY_A},my secret key with spaces")
    with pytest.raises(ValidationError, match="API_KEYS: key 2 has whitespace inside") as refused:
        Settings()
    assert "my secret" not in str(refused.value) and KEY_A not in str(refused.value)


# The guard


def _guard(*keys: str, protect_predict: bool = False) -> tuple[KeyGuard, list[str]]:
    failures: list[str] = []
    guard = KeyGuard([SecretStr(k) for k in keys], protect_predict, failures.append)
    return guard, failures


def _headers(*authorization: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"localhost"), *((b"authorization", a.encode()) for a in authorization)]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ((), "missing"),
        ((f"Basic {KEY_A}",), "malformed"),
        ((KEY_A,), "malformed"),
        (("Bearer",), "malformed"),
        (("Bearer ",), "malformed"),
        (("Bearer    ",), "malformed"),
        ((f"Bearer {KEY_A} {KEY_B}",), "malformed"),
        ((f"Bearer {KEY_A}\textra",), "malformed"),
        ((f"Bearer {KEY_A}", f"Bearer {KEY_A}"), "malformed"),
        ((f"Bearer{KEY_A}",), "malformed"),
    ],
)
def test_guard_answers_401_without_a_usable_header(
    authorization: tuple[str, ...], reason: str
) -> None:
    guard, failures = _guard(*ALL_KEYS)
    with pytest.raises(MissingApiKeyError, match="Authorization: Bearer <key>") as refused:
        guard.check(_headers(*authorization))
    assert refused.value.status == 401
    assert refused.value.details[0]["rule"] == reason
    assert failures == [reason]
    assert KEY_A not in refused.value.message


@pytest.mark.parametrize(
    "token",
    [
        "zulu-key-0123456789abcdef",
        KEY_A[:-1],  # a prefix of a key
        KEY_A + "0",  # a key and more
        KEY_A.upper(),  # keys are case-sensitive
        "short",
    ],
)
def test_guard_answers_403_to_a_wrong_key(token: str) -> None:
    guard, failures = _guard(*ALL_KEYS)
    with pytest.raises(WrongApiKeyError, match="not accepted") as refused:
        guard.check(_headers(f"Bearer {token}"))
    assert refused.value.status == 403
    assert failures == ["wrong_key"]
    assert token not in refused.value.message


@pytest.mark.parametrize("key", ALL_KEYS)
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_guard_accepts_each_configured_key(key: str, scheme: str) -> None:
    guard, failures = _guard(*ALL_KEYS)
    guard.check(_headers(f"{scheme} {key}"))
    guard.check(_headers(f"{scheme}   {key}  "))  # spaces around the token are no part of it
    assert failures == []


@pytest.mark.parametrize("key", ALL_KEYS)
def test_guard_compares_with_every_key_whichever_matches(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No early exit: the number of comparisons never tells which key matched."""
    compared: list[tuple[bytes, bytes]] = []
    real = api_keys.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", counting)
    guard, _ = _guard(*ALL_KEYS)
    guard.check(_headers(f"Bearer {key}"))
    assert len(compared) == len(ALL_KEYS)
    # Fixed-length digests, never the key itself: the length of a key does not show either.
    assert all(len(a) == len(b) == 32 for a, b in compared)
    assert all(key.encode() not in (a, b) for a, b in compared)


def test_guard_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        KeyGuard([])


OPEN = [
    "/health",
    "/ping",
    "/version",
    "/model",
    "/metrics",
    "/monitoring/drift",
    "/docs",
    "/openapi.json",
    "/redoc",
    "/",
    "/administrator",
    "/feedbacks",
    "/predictions",
]


@pytest.mark.parametrize(
    "path",
    ["/admin", "/admin/", "/admin/reload", "/admin/x/y", "/feedback", "/feedback/", "/feedback/x"],
)
@pytest.mark.parametrize("protect_predict", [False, True])
def test_guard_protects_admin_and_feedback_always(path: str, protect_predict: bool) -> None:
    guard, _ = _guard(KEY_A, protect_predict=protect_predict)
    assert guard.protects(path)


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_guard_protects_predictions_with_protect_predict_only(path: str) -> None:
    assert not _guard(KEY_A)[0].protects(path)
    assert _guard(KEY_A, protect_predict=True)[0].protects(path)


@pytest.mark.parametrize("path", OPEN)
@pytest.mark.parametrize("protect_predict", [False, True])
def test_guard_leaves_reads_and_health_open(path: str, protect_predict: bool) -> None:
    assert not _guard(KEY_A, protect_predict=protect_predict)[0].protects(path)


# Through the app: the middleware answers before any route, in the one error format


@pytest.fixture(scope="module")
def keyed(trained: Path) -> Iterator[TestClient]:
    """The session's model served with two keys and PROTECT_PREDICT off."""
    settings = make_settings(trained, api_keys=f"{KEY_A},{KEY_B}")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/feedback"), ("GET", "/admin/reload"), ("POST", "/admin/reload"), ("GET", "/admin")],
)
def test_app_refuses_protected_paths_without_the_right_key(
    keyed: TestClient, method: str, path: str
) -> None:
    missing = keyed.request(method, path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    body = missing.json()
    assert set(body) == {"error", "message", "details", "request_id"}
    assert body["error"] == "unauthorized" and body["request_id"] == missing.headers["x-request-id"]
    wrong = keyed.request(method, path, headers=_bearer(KEY_C))
    assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"
    assert "www-authenticate" not in wrong.headers
    assert KEY_C not in wrong.text


def test_app_routes_a_right_key_as_without_keys(keyed: TestClient) -> None:
    """With a key, a request goes on as it would with no keys at all: /admin/x is then a 404
    (no such route yet), which shows the protection is by path, not by route."""
    assert keyed.get("/admin/x", headers=_bearer(KEY_B)).status_code == 404
    feedback = keyed.post(
        "/feedback", headers=_bearer(KEY_A), json={"request_id": "nope", "true_label": "setosa"}
    )
    assert feedback.status_code == 503  # PREDICTION_LOG is off in make_settings
    assert feedback.json()["error"] == "monitoring_disabled"


def test_app_checks_the_key_before_the_body(keyed: TestClient) -> None:
    """An unauthenticated client learns nothing about the body limits."""
    big = {"Content-Length": str(10 << 20), "Content-Type": "application/json"}
    response = keyed.post("/feedback", headers=big, content=b"{}")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/ping", "/model", "/metrics", "/openapi.json"])
def test_app_leaves_reads_open(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_app_leaves_predictions_open_without_protect_predict(keyed: TestClient) -> None:
    assert keyed.post("/predict", json=GOOD).status_code == 200
    invocations = keyed.post("/invocations", json={"dataframe_records": [GOOD]})
    assert invocations.status_code == 200


def test_app_counts_refusals_by_reason(trained: Path) -> None:
    settings = make_settings(trained, api_keys=KEY_A)
    with TestClient(create_app(settings)) as fresh:
        fresh.post("/feedback")
        fresh.post("/feedback", headers={"Authorization": "Basic abc"})
        fresh.post("/feedback", headers=_bearer(KEY_B))
        fresh.post("/feedback", headers=_bearer(KEY_B))
        fresh.post("/feedback", headers=_bearer(KEY_A), json={})
        metrics = fresh.get("/metrics").text
    counted = {
        line.split("}")[0].split('"')[1]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("petalflow_auth_failures_total{")
    }
    assert counted == {"missing": 1.0, "malformed": 1.0, "wrong_key": 2.0}


@pytest.fixture(scope="module")
def protected(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """PROTECT_PREDICT=true, the keys from a file."""
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    path.write_text(f"# the clients' keys\n{KEY_B}\n{KEY_C}\n")
    settings = make_settings(trained, api_keys_file=path, protect_predict=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", GOOD),
        ("/predict/batch", {"instances": [GOOD, GOOD]}),
        ("/invocations", {"dataframe_records": [GOOD]}),
    ],
)
def test_protect_predict_covers_the_prediction_routes(
    protected: TestClient, path: str, body: dict[str, Any]
) -> None:
    missing = protected.post(path, json=body)
    wrong = protected.post(path, json=body, headers=_bearer(KEY_A))
    right = protected.post(path, json=body, headers=_bearer(KEY_C))
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 403, 200)
    assert missing.headers["www-authenticate"] == "Bearer"
    if path == "/invocations":  # MLflow's format there, with the codes MLflow maps back
        codes = (missing.json()["error_code"], wrong.json()["error_code"])
        assert codes == ("UNAUTHENTICATED", "PERMISSION_DENIED")
        assert [ERROR_CODE_TO_HTTP_STATUS[code] for code in codes] == [401, 403]
    else:
        assert "error_code" not in missing.json()


@pytest.mark.parametrize("path", ["/health", "/ping", "/model"])
def test_protect_predict_leaves_health_open(protected: TestClient, path: str) -> None:
    assert protected.get(path).status_code == 200


def test_no_keys_change_nothing(api: TestClient) -> None:
    response = api.post("/feedback", json={"request_id": "nope", "true_label": "setosa"})
    assert response.status_code == 503 and "www-authenticate" not in response.headers
    assert api.get("/admin/x").status_code == 404


def test_app_never_logs_a_key(trained: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(trained, api_keys=KEY_A, protect_predict=True, log_level="DEBUG")
    with caplog.at_level("DEBUG"), TestClient(create_app(settings)) as fresh:
        for key in (KEY_A, KEY_B):
            fresh.post("/predict", json=GOOD, headers=_bearer(key))
            fresh.post(
                "/feedback", json={"request_id": "x", "true_label": "setosa"}, headers=_bearer(key)
            )
            fresh.get("/admin/x", headers=_bearer(key))
        fresh.post("/predict", headers={"Authorization": KEY_B})
    assert len(caplog.records) > 5
    statuses = [r.fields["status"] for r in caplog.records if r.name == "petalflow.access"]
    assert sorted(statuses) == [200, 401, 403, 403, 403, 404, 503]
    text = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert KEY_A not in text and KEY_B not in text
    assert "API keys: 1; a key is needed on /admin" in text


def test_openapi_marks_the_protected_operations(keyed: TestClient, protected: TestClient) -> None:
    """Swagger UI's Authorize button comes from these: it then sends the key."""
    writes = {"/feedback", "/admin/reload"}
    for client, marked in ((keyed, writes), (protected, {*writes, *PREDICTIONS})):
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["apiKey"] == {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key of the server (API_KEYS, API_KEYS_FILE)",
        }
        secured = {
            path
            for path, operations in schema["paths"].items()
            for operation in operations.values()
            if operation.get("security") == [{"apiKey": []}]
            and {"401", "403"} <= set(operation["responses"])
        }
        assert secured == marked
        assert client.get("/openapi.json").json() == schema  # marking twice changes nothing


def test_openapi_without_keys_has_no_security(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert all(
        "security" not in operation and "401" not in operation["responses"]
        for operations in schema["paths"].values()
        for operation in operations.values()
    )
