"""Typed service settings, read from the environment by the entry point only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from petalflow.monitoring.settings import MonitoringSettings


class Settings(MonitoringSettings):
    """Everything the API can be configured with (environment variable = field name)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

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
    fast_path: bool = Field(default=True, description="Use the verified NumPy fast path")
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        description="Folder shared by the workers' metrics; serve.py sets one per "
        "`uvicorn --workers N` supervisor when unset",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def get_settings() -> Settings:
    """Settings from the environment (called by serve.py, never at import)."""
    return Settings()
