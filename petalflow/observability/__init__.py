"""Observability: JSON log lines and Prometheus metrics."""
