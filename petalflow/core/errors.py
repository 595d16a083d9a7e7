"""Domain exceptions. Each message says what went wrong and what to do instead.

Every error carries the HTTP status and error code it answers with (``status``,
``code``); ``petalflow.serving.http_errors`` turns them into responses in one place,
and the CLIs turn them into exit codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PetalflowError(Exception):
    """Base class for every error petalflow raises on purpose.

    Unless a subclass says otherwise it is a server-side failure (500, the message kept
    out of the response because it may name server paths).
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    #: Whether the message is safe to show a client (client errors always are).
    public: ClassVar[bool] = False


class ClientError(PetalflowError):
    """A request the client must change; ``details`` name each field and rule.

    ``mlflow_code``: the ``error_code`` `mlflow models serve` gives the same mistake on
    /invocations (``BAD_REQUEST`` or ``INVALID_PARAMETER_VALUE``); None: the one its
    status implies (``petalflow.serving.http_errors``).
    """

    public = True
    status = 400
    code = "bad_request"
    mlflow_code: str | None = None

    def __init__(
        self,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        mlflow_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.mlflow_code = mlflow_code
        if status is not None:
            self.status = status  # type: ignore[misc]
        if code is not None:
            self.code = code  # type: ignore[misc]


class InvalidRequestError(ClientError):
    """A request body that breaks the schema (422), naming each field and rule."""

    status = 422
    code = "validation_error"


class TooManyRowsError(ClientError):
    """A batch with more rows than MAX_BATCH_ROWS."""

    status = 413
    code = "payload_too_large"

    def __init__(self, field: str, rows: int, limit: int) -> None:
        message = f"{field}: {rows} rows exceed the limit of {limit} (MAX_BATCH_ROWS); split them"
        detail = {"field": field, "rule": "max_length", "message": f"at most {limit} rows"}
        super().__init__(message, [detail])


class InvalidSplitError(PetalflowError, ValueError):
    """The requested train/test split would leave a class empty on one side."""


class DataContractError(PetalflowError, ValueError):
    """A data contract file (``--dataset path.yaml``) that is missing, unreadable or invalid."""


class TableError(PetalflowError, ValueError):
    """A training table that breaks its data contract: column, rule, count, first lines."""


class TrackingError(PetalflowError):
    """The MLflow tracking store could not be reached or refused a write."""


class TuningError(PetalflowError):
    """A search that could not give a model (no trial completed)."""


class ForkedWorkError(PetalflowError):
    """A forked child that ended without an answer, gave none in time, or cannot send it."""


class PromotionError(PetalflowError):
    """A promotion or rollback that cannot be decided as asked (exit status 2)."""


class ModelLoadError(PetalflowError):
    """No loadable model at the configured source."""


class ModelIntegrityError(ModelLoadError):
    """model.joblib does not match the sha256 recorded in model_info.json."""


class ContractError(ModelLoadError):
    """A model contract (contract.json) that is missing or invalid."""


class MissingApiKeyError(ClientError):
    """A protected route asked without a usable ``Authorization: Bearer <key>`` header
    (401, with a ``WWW-Authenticate: Bearer`` challenge); the message never quotes it."""

    status = 401
    code = "unauthorized"


class WrongApiKeyError(ClientError):
    """A protected route asked with a key that is not configured (403)."""

    status = 403
    code = "forbidden"


class ShadowError(PetalflowError):
    """A shadow model (SHADOW_MODEL_URI) the server cannot use beside the served one."""


class ShadowNotConfiguredError(ClientError, LookupError):
    """A shadow report asked of a server that has no shadow model."""

    status = 404
    code = "not_found"


class ShadowNotLoadedError(ClientError):
    """A shadow report asked while the configured shadow model could not be loaded."""

    status = 503
    code = "shadow_not_loaded"


class UnknownLabelError(ClientError, ValueError):
    """A label that is not one of the model's classes."""

    status = 422
    code = "validation_error"


class PredictionNotFoundError(ClientError, LookupError):
    """No logged prediction has this request id."""

    status = 404
    code = "not_found"


class AlreadyLabelledError(ClientError):
    """The prediction already has a ground-truth label."""

    status = 409
    code = "conflict"


class MonitoringDisabledError(ClientError):
    """The prediction log is switched off, so there is nothing to monitor."""

    status = 503
    code = "monitoring_disabled"


class PredictionLogError(PetalflowError):
    """The prediction log file cannot be opened, or has a schema this version cannot use."""


class PredictionLogUnavailableError(ClientError):
    """The prediction log cannot be read or written right now (full, locked, damaged,
    moved); the message says why and since when, never the file's path."""

    status = 503
    code = "prediction_log_unavailable"


class PredictionNotLoggedError(ClientError):
    """Feedback on a prediction that was answered but dropped by the prediction log."""

    status = 503
    code = "prediction_not_logged"


class RequestIdConflictError(ClientError):
    """A reused X-Request-ID with other features, or feedback on such an id."""

    status = 409
    code = "request_id_conflict"
