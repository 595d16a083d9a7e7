"""Monitoring: the prediction log, drift, live performance and the report CLI."""
