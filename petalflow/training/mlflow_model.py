"""The MLflow model of a training: skops format, input example, signature, pinned pip."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import mlflow
import numpy as np
import sklearn
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema
from sklearn.pipeline import Pipeline

from petalflow.core.contract import ModelContract
from petalflow.training.pipeline import SKOPS_TRUSTED_TYPES


def pip_requirements() -> list[str]:
    """Explicit pins of the running versions: MLflow's own inference costs ~8 s and guesses."""
    import pandas
    import skops

    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pandas.__version__}",
        f"skops=={skops.__version__}",
    ]


def versions() -> dict[str, str]:
    """Library versions recorded in model_info.json."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "mlflow": mlflow.__version__,
        "numpy": np.__version__,
    }


@contextmanager
def skip_requirement_mismatch_check() -> Iterator[None]:
    """MLflow checks the model's pip requirements against the installed packages by
    reading every installed distribution's file list (~0.5 s). The requirements are
    the running versions (``pip_requirements``), so that check cannot find a mismatch."""
    import mlflow.pyfunc
    import mlflow.utils.environment

    with ExitStack() as stack:
        for module in (mlflow.utils.environment, mlflow.pyfunc):
            if hasattr(module, "warn_dependency_requirement_mismatches"):
                stack.enter_context(
                    mock.patch.object(
                        module, "warn_dependency_requirement_mismatches", lambda _reqs: None
                    )
                )
        yield


def signature(contract: ModelContract, pipeline: Pipeline, example: Any) -> ModelSignature:
    """Inputs from the contract (numbers as double, categories as string, nullable ->
    not required); the output inferred from the prediction of ``example``."""
    inputs = Schema(
        [
            ColSpec("double" if f.numeric else "string", f.name, required=not f.nullable)
            for f in contract.features
        ]
    )
    outputs = infer_signature(example, pipeline.predict(example)).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_model(pipeline: Pipeline, example: Any, contract: ModelContract) -> ModelInfo:
    """Log the fitted pipeline as the run's model ``model`` (into the active run)."""
    with skip_requirement_mismatch_check():
        return mlflow.sklearn.log_model(
            pipeline,
            name="model",
            input_example=example,
            signature=signature(contract, pipeline, example),
            pip_requirements=pip_requirements(),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
