"""The one error mapping: MLflow's statuses and error codes on /invocations, and MLflow's
media-type rules for its scoring endpoint."""

from __future__ import annotations

import json

import pytest

from petalflow.core.errors import ClientError, InvalidRequestError, PetalflowError
from petalflow.serving.http_errors import (
    MAX_DETAILS,
    body_media,
    error_response,
    scoring_media_type,
)


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", "json"),
        ("application/json; charset=UTF-8", "json"),
        ("application/json;charset=utf-8", "json"),
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("application/vnd.apache.parquet", "parquet"),
    ],
)
def test_scoring_media_type_takes_mlflows_three_types(content_type: str, kind: str) -> None:
    assert scoring_media_type(content_type) == kind


@pytest.mark.parametrize(
    ("content_type", "words"),
    [
        ("", "got none"),
        ("text/plain", "got 'text/plain'"),
        ("Application/JSON", "got 'Application/JSON'"),  # MLflow compares exactly
        ("application/vnd.api+json", "got"),
        ("application/json; charset=latin-1", "only supports UTF-8"),
        ("text/csv; charset=latin-1", "only supports UTF-8"),
        ("application/json; format=pandas-split", "unrecognized content type parameters: format"),
        ("application/json;", "unrecognized content type parameters"),
        ("application/json; charset= utf-8", "only supports UTF-8"),
    ],
)
def test_scoring_media_type_refuses_what_mlflow_refuses_with_415(
    content_type: str, words: str
) -> None:
    with pytest.raises(ClientError) as caught:
        scoring_media_type(content_type)
    assert caught.value.status == 415
    assert caught.value.code == "unsupported_media_type"
    assert words in caught.value.message


@pytest.mark.parametrize("scoring", [False, True])
@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip", "x" * 500])
def test_body_media_refuses_a_content_coding_with_415(scoring: bool, encoding: str) -> None:
    with pytest.raises(ClientError, match="send the body uncompressed") as caught:
        body_media("application/json", encoding, scoring)
    assert caught.value.status == 415
    assert caught.value.code == "unsupported_media_type"
    assert encoding[:64] in caught.value.message and "x" * 65 not in caught.value.message


@pytest.mark.parametrize(
    ("content_type", "encoding", "scoring", "media"),
    [
        ("application/json", "", False, ()),
        ("application/json", "identity", False, ()),
        ("application/json", " Identity ", True, ("json",)),
        ("text/csv", "", True, ("csv",)),
    ],
)
def test_body_media_takes_an_uncoded_body(
    content_type: str, encoding: str, scoring: bool, media: tuple[str, ...]
) -> None:
    assert body_media(content_type, encoding, scoring) == media


def test_body_media_checks_the_json_routes_media_type() -> None:
    with pytest.raises(ClientError, match="Content-Type must be application/json"):
        body_media("text/csv", "", False)


@pytest.mark.parametrize(
    ("error", "plain", "mlflow", "code"),
    [
        (InvalidRequestError("bad row"), 422, 400, "BAD_REQUEST"),
        (
            ClientError("x", mlflow_code="INVALID_PARAMETER_VALUE"),
            400,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (ClientError("big", status=413), 413, 413, "BAD_REQUEST"),
        (ClientError("kind", status=415), 415, 415, "BAD_REQUEST"),
        (ClientError("again", status=409), 409, 409, "RESOURCE_CONFLICT"),
        (ClientError("later", status=503), 503, 503, "TEMPORARILY_UNAVAILABLE"),
        (ClientError("where", status=404), 404, 404, "ENDPOINT_NOT_FOUND"),
    ],
)
def test_error_response_on_invocations_adds_mlflows_status_and_error_code(
    error: ClientError, plain: int, mlflow: int, code: str
) -> None:
    status, body = error_response(error, "rid-1")
    assert status == plain
    assert set(json.loads(body)) == {"error", "message", "details", "request_id"}
    status, body = error_response(error, "rid-1", mlflow=True)
    assert status == mlflow
    payload = json.loads(body)
    assert payload["error_code"] == code
    assert payload["message"] == error.message and payload["request_id"] == "rid-1"
    assert payload["error"] == error.code


def test_error_response_on_invocations_hides_internal_errors_as_internal_error() -> None:
    status, body = error_response(PetalflowError("/srv/secret/model.joblib"), "rid-2", True)
    payload = json.loads(body)
    assert status == 500
    assert payload["error_code"] == "INTERNAL_ERROR"
    assert "secret" not in body.decode() and "rid-2" in payload["message"]


@pytest.mark.parametrize(("n", "listed"), [(3, 3), (MAX_DETAILS, MAX_DETAILS), (6000, MAX_DETAILS)])
def test_error_response_lists_at_most_max_details(n: int, listed: int) -> None:
    details = [{"field": f"f{i}", "rule": "extra_forbidden", "message": "m"} for i in range(n)]
    status, body = error_response(InvalidRequestError(f"{n} fields", details), "rid")
    answer = json.loads(body)
    assert status == 422
    assert [d["field"] for d in answer["details"]] == [f"f{i}" for i in range(listed)]
    assert answer["message"] == f"{n} fields"  # the message keeps counting them all
