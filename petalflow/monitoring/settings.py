"""Monitoring settings (environment variable = field name), shared by the server and the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitoringSettings(BaseSettings):
    """The prediction log and the windows and thresholds of drift and performance."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    prediction_log: str = Field(
        default="predictions.db", description="SQLite prediction log; empty string disables it"
    )
    prediction_log_on_damage: Literal["refuse", "move_aside"] = Field(
        default="refuse",
        description="A damaged log at start-up: refuse to start, or move it aside and "
        "start a new one",
    )
    prediction_log_max_rows: int = Field(default=100_000, ge=1000, description="Retention")
    drift_window: int = Field(default=500, ge=10, description="Predictions in a drift check")
    drift_min_samples: int = Field(default=100, ge=10, description="Fewer: no drift verdict")
    performance_window: int = Field(default=500, ge=10, description="Labelled predictions")
    performance_min_labels: int = Field(default=20, ge=1, description="Fewer: no verdict")
    shadow_window: int = Field(
        default=10_000, ge=10, description="Newest rows the shadow comparison reads"
    )
    accuracy_margin: float = Field(
        default=0.05, gt=0, lt=1, description="Alert when live accuracy < training - margin"
    )
    monitoring_refresh_seconds: float = Field(
        default=10.0,
        ge=0,
        description="/metrics recomputes the drift and accuracy gauges at most this often",
    )
