"""petalflow: reproducible MLflow-tracked training and a production inference API."""

__version__ = "0.1.0"
