"""API schemas named by role: responses, feedback and errors.

The prediction request models come from the served model's contract (``request_models``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class Prediction(BaseModel):
    """One row's outcome."""

    predicted_label: str
    class_probabilities: dict[str, float]


class PredictResponse(Prediction):
    """The answer of /predict."""

    model_version: str = Field(description="MLflow run id of the training run")
    latency_ms: float = Field(ge=0, description="Time spent in the model call")


class PredictBatchResponse(BaseModel):
    """The answer of /predict/batch, rows in request order."""

    predictions: list[Prediction]
    model_version: str
    latency_ms: float = Field(ge=0)


class PredictBatchColumnarResponse(BaseModel):
    """The answer of /predict/batch to a columnar body (columns, data), rows in order."""

    labels: list[str] = Field(description="Each row's predicted label")
    classes: list[str] = Field(description="The order of each probability row")
    probabilities: list[list[float]] = Field(description="Each row's class probabilities")
    model_version: str
    latency_ms: float = Field(ge=0)


class InvocationsResponse(BaseModel):
    """MLflow scoring protocol answer: what `mlflow models serve` returns."""

    predictions: list[Any]


class HealthResponse(BaseModel):
    status: str


class RegisteredModel(BaseModel):
    """The registry entry a model was served from (alias null for a version URI)."""

    name: str
    version: str
    alias: str | None


class ModelIdentity(BaseModel):
    """Which model: run id, MLflow 3 logged-model id, registry entry, source as configured."""

    model_version: str
    model_id: str | None
    registered_model: RegisteredModel | None
    source: str


class ModelResponse(ModelIdentity):
    """What is being served."""

    run_id: str | None
    sha256: str | None
    feature_names: list[str]
    class_names: list[str]
    params: dict[str, Any]
    metrics: dict[str, float]
    loaded_at: str
    fast_path: bool
    shadow: ModelIdentity | None = Field(
        None, description="The shadow model (SHADOW_MODEL_URI) scoring beside it, if any."
    )


class ReloadResponse(ModelIdentity):
    """What a reload did, and the model served after it."""

    switched: bool
    outcome: Literal["switched", "unchanged", "refused", "unavailable", "busy"]
    detail: str


class FeedbackRequest(BaseModel):
    """Ground truth for a past prediction."""

    model_config = ConfigDict(strict=True, extra="forbid")

    request_id: str = Field(min_length=1, max_length=200)
    true_label: str = Field(min_length=1, max_length=200)

    @field_validator("true_label", mode="before")
    @classmethod
    def _label_is_text(cls, value: Any) -> Any:
        # Class names are text, also a numeric target's ("0", "1"): say how to send one.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f'send the class name as a JSON string, e.g. "{value}"')
        return value


class FeedbackResponse(BaseModel):
    request_id: str
    true_label: str
    predicted_label: str
    correct: bool


class PredictionLogHealth(BaseModel):
    """Whether the prediction log is writing; a degraded log drops predictions (counted)."""

    status: str = Field(description="ok, or degraded while writes fail")
    reason: str | None = Field(description="disk_full, locked, damaged, unwritable, ...")
    degraded_since: str | None = Field(description="ISO time the current episode began")
    last_write: str | None = Field(description="ISO time of the last successful write")
    dropped: dict[str, int] = Field(description="Predicted rows dropped, by reason")


class DriftReport(BaseModel):
    """/monitoring/drift; per-feature and prediction details when there is a verdict."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="ok, warn, alert, insufficient_data or unavailable")
    model_version: str | None = None
    window_size: int | None = None
    features: dict[str, dict[str, Any]] | None = None
    prediction: dict[str, Any] | None = None
    prediction_log: PredictionLogHealth | None = None


class PerformanceReport(BaseModel):
    """/monitoring/performance: live metrics over labelled predictions beside training's."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="ok, alert or insufficient_data")
    model_version: str
    n_labelled: int
    live: dict[str, float] | None
    training: dict[str, float | None]
    prediction_log: PredictionLogHealth | None = None


class ModelScores(BaseModel):
    """One model's scores over the labelled rows both models answered."""

    accuracy: float
    f1_macro: float


class ShadowLabelled(BaseModel):
    """Both models over labelled feedback (the newest PERFORMANCE_WINDOW rows)."""

    n_labelled: int
    primary: ModelScores | None = Field(description="The served model's; null without labels")
    shadow: ModelScores | None = Field(description="The shadow model's; null without labels")


class LabelMatrix(BaseModel):
    """counts[i][j]: rows the served model labelled labels[i] and the shadow labels[j]."""

    labels: list[str]
    counts: list[list[int]]


class ShadowReport(BaseModel):
    """/monitoring/shadow: the served model against the shadow (SHADOW_MODEL_URI)."""

    primary_version: str = Field(description="The served model's version")
    shadow_version: str = Field(description="The shadow model's version")
    rows_compared: int = Field(description="Rows both answered (newest SHADOW_WINDOW)")
    agreement_rate: float | None = Field(description="Share of them with the same label")
    label_matrix: LabelMatrix
    labelled: ShadowLabelled
    prediction_log: PredictionLogHealth | None = None


class ErrorDetail(BaseModel):
    field: str | None = Field(description="Dotted path of the offending field, if any")
    rule: str = Field(description="The rule that failed, e.g. greater_than, missing")
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="Error code, e.g. validation_error, payload_too_large")
    message: str = Field(description="What is wrong and what to do")
    details: list[ErrorDetail] = Field(default_factory=list)
    request_id: str


_KINDS = {type(None): "null", bool: "a boolean", list: "a list", dict: "an object"}


def _not_a_number(value: Any) -> str:
    """What a JSON route tells a value that is not a number: what it is instead (a
    string: which one, and the number to send if it spells one)."""
    if isinstance(value, str):
        shown = json.dumps(shown_name(value), ensure_ascii=False)
        if _spells_a_number(value):
            return f"Input should be a JSON number ({value.strip()}, not the string {shown})"
        return f"Input should be a JSON number, not the string {shown}"
    kind = _KINDS.get(type(value), type(value).__name__)
    return f"Input should be a JSON number, not {kind}"


def _spells_a_number(text: str) -> bool:
    """Whether ``text`` is a short JSON-ready number (float() also takes "1_0" and other
    scripts' digits, which JSON does not)."""
    if len(text) > NAME_SHOWN or not text.isascii() or "_" in text:
        return False
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


NAME_SHOWN = 64  # characters of a client's key shown back to it


def shown_name(name: object) -> str:
    """A client's key as an error names it: cut after ``NAME_SHOWN`` characters (an
    unknown key of 500 KB would otherwise come back in every detail and message)."""
    text = str(name)
    return text if len(text) <= NAME_SHOWN else text[:NAME_SHOWN] + "…"


def error_details(
    exc: ValidationError, prefix: tuple[str | int, ...] = (), number: str | None = None
) -> list[dict[str, Any]]:
    """pydantic errors as ErrorDetail dicts: dotted field path, rule, message (``number``:
    what a value that is not a number is told; by default, the JSON routes' words for it)."""
    details = []
    for err in exc.errors(include_url=False):  # the input picks a float_type's message
        field = ".".join(shown_name(p) for p in (*prefix, *err["loc"]))
        rule, message = err["type"], err["msg"]
        if rule == "float_type" and type(err.get("input")) is int:
            # an integer past float's range: as pydantic's JSON parser words it on /predict
            rule, message = "finite_number", "Input should be a finite number"
        elif rule == "float_type":
            message = number or _not_a_number(err.get("input"))
        details.append(
            {"field": field or None, "rule": rule, "message": f"{field or 'body'}: {message}"}
        )
    return details


def summarize(details: list[dict[str, Any]]) -> str:
    """One line naming the first few fields and rules."""
    text = "; ".join(f"{d['message']} ({d['rule']})" for d in details[:5])
    return text + (f"; and {len(details) - 5} more" if len(details) > 5 else "")
