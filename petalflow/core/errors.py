"""Domain exceptions. Each message says what went wrong and what to do instead.

The HTTP layer maps these to status codes in one place (``petalflow.serving.app``);
the CLIs map them to exit codes.
"""

from __future__ import annotations


class PetalflowError(Exception):
    """Base class for every error petalflow raises on purpose."""


class InvalidSplitError(PetalflowError, ValueError):
    """The requested train/test split would leave a class empty on one side."""


class TrackingError(PetalflowError):
    """The MLflow tracking store could not be reached or refused a write."""


class ModelLoadError(PetalflowError):
    """No loadable model at the configured source."""


class ModelIntegrityError(ModelLoadError):
    """model.joblib does not match the sha256 recorded in model_info.json."""


class UnknownLabelError(PetalflowError, ValueError):
    """A label that is not one of the model's classes."""


class PredictionNotFoundError(PetalflowError, LookupError):
    """No logged prediction has this request id."""


class AlreadyLabelledError(PetalflowError):
    """The prediction already has a ground-truth label."""
