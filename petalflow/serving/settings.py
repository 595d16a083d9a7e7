"""Typed service settings, read from the environment by the entry point only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from petalflow.monitoring.settings import MonitoringSettings
from petalflow.serving.api_keys import configured_keys


class Settings(MonitoringSettings):
    """Everything the API can be configured with (environment variable = field name)."""

    # No input in validation errors: a refused API_KEYS must not be echoed anywhere.
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", hide_input_in_errors=True
    )

    model_uri: str | None = Field(
        default=None, description="Any MLflow model URI; when unset, ARTIFACTS_DIR is served"
    )
    shadow_model_uri: str | None = Field(
        default=None,
        description="A second model (any MLflow model URI) that scores sampled requests off "
        "the request path, logged beside the served one; clients never see it",
    )
    shadow_sample: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests the shadow model scores, 0 to 1"
    )
    artifacts_dir: Path = Field(default=Path("artifacts"), description="Local training output")
    max_batch_rows: int = Field(default=10_000, ge=1, description="Rows per /predict/batch")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Request body limit")
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's body must arrive this soon after its head"
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request head must arrive this soon after the connection opens or its "
        "first byte (with `--http serve:HttpProtocol`)",
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="Request line and headers limit (with `--http serve:HttpProtocol`)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Log level of petalflow's loggers"
    )
    reload_interval: float = Field(
        default=30.0,
        ge=0,
        description="Seconds between checks of the registry when MODEL_URI names an alias "
        "(models:/NAME@ALIAS); 0 = never (POST /admin/reload still checks)",
    )
    fast_path: bool = Field(default=True, description="Use the verified NumPy fast path")
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        description="Folder shared by the workers' metrics; serve.py sets one per "
        "`uvicorn --workers N` supervisor when unset",
    )
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated API keys; when set, /feedback and /admin/* need "
        "`Authorization: Bearer <key>`",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="A file of API keys, one a line (blank lines and # comments skipped), "
        "instead of API_KEYS",
    )
    protect_predict: bool = Field(
        default=False,
        description="With API keys, /predict, /predict/batch and /invocations need one too",
    )
    _keys: tuple[SecretStr, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _read_keys(self) -> Settings:
        self._keys = configured_keys(self.api_keys, self.api_keys_file, self.protect_predict)
        return self

    @property
    def bearer_keys(self) -> tuple[SecretStr, ...]:
        """The API keys of API_KEYS or API_KEYS_FILE, read at start; () when none is set."""
        return self._keys

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def get_settings() -> Settings:
    """Settings from the environment (called by serve.py, never at import)."""
    return Settings()
