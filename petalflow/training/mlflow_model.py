"""The MLflow model of a training: skops format, input example, signature, pinned pip."""

from __future__ import annotations

import platform
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import mlflow
import numpy as np
import sklearn
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema, TensorSpec
from sklearn.pipeline import Pipeline

from petalflow.core.contract import FeatureSpec, ModelContract
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


def contract_schema(features: Sequence[FeatureSpec], target: str | None = None) -> Schema:
    """The contract's columns as MLflow types: numbers as double, categories as string,
    nullable -> not required; then ``target`` (text, never missing) when given."""
    columns: list[ColSpec | TensorSpec] = [
        ColSpec("double" if f.numeric else "string", f.name, required=not f.nullable)
        for f in features
    ]
    return Schema(columns + ([ColSpec("string", target)] if target else []))


def signature(contract: ModelContract, pipeline: Pipeline, example: Any) -> ModelSignature:
    """Inputs from the contract; the output inferred from the prediction of ``example``."""
    outputs = infer_signature(example, pipeline.predict(example)).outputs
    return ModelSignature(inputs=contract_schema(contract.features), outputs=outputs)


class ContractDataset(PandasDataset):
    """A logged data set whose schema is its data contract's. MLflow would infer one by
    looking at every cell in Python (1,000,000 rows x 20 columns: 30-60 s) and could only
    guess what the contract states: which columns may be missing."""

    def __init__(self, frame: Any, schema: Schema, **kwargs: Any) -> None:
        super().__init__(frame, **kwargs)
        self._contract_schema = schema

    @property
    def schema(self) -> Schema:
        """The contract's schema (features, then the target)."""
        return self._contract_schema


def training_input(
    frame: Any, features: Sequence[FeatureSpec], target: str, name: str, digest: str
) -> ContractDataset:
    """The training table as an MLflow data set: ``name``, the contract's schema, the
    given ``digest`` (MLflow's own checks every cell's type in Python), the code as source."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.tracking.context import registry

    source = CodeDatasetSource(tags=registry.resolve_tags())  # what from_pandas gives
    schema = contract_schema(features, target)
    return ContractDataset(frame, schema, source=source, targets=target, name=name, digest=digest)


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
