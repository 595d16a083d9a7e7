"""The model contract: what a served model expects and answers, written beside the model.

Training writes it as ``contract.json`` into the artifacts and the MLflow run; the server
builds its request schema, its validation and its fast-path verification from it, so it
never needs the training data code. The shape follows SPEC 7 (typed features with
bounds, categories and nullability), so that data contracts extend it rather than
replace it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from petalflow.core.errors import ContractError

FeatureType = Literal["float", "int", "category", "bool"]
CONTRACT_VERSION = 1


class FeatureSpec(BaseModel):
    """One input column: its type, bounds (as pydantic's ge/gt/le/lt) and description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: FeatureType = "float"
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    categories: list[str] | None = None
    nullable: bool = False
    description: str | None = None

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, e.g. ``{"gt": 0.0, "le": 100.0}``."""
        found = {"ge": self.ge, "gt": self.gt, "le": self.le, "lt": self.lt}
        return {key: value for key, value in found.items() if value is not None}

    def rule(self) -> str:
        """The bounds in words, e.g. ``> 0 and <= 100``."""
        words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        return " and ".join(f"{words[k]} {v:g}" for k, v in self.bounds().items())


class ModelContract(BaseModel):
    """Features in model order, the target and its classes, and a verification sample.

    ``verification_rows`` are inputs in feature order (training rows), on which a fast
    path must agree with the pipeline before it is used.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    contract_version: int = CONTRACT_VERSION
    dataset: str
    features: list[FeatureSpec] = Field(min_length=1)
    target: str
    classes: list[str] = Field(min_length=2)
    positive_class: str | None = None
    verification_rows: list[list[float]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ModelContract:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features: duplicate names {duplicates}")
        if self.target in names:
            raise ValueError(f"target {self.target!r} is also listed among the features")
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class!r} is not a class")
        width = len(names)
        if any(len(row) != width for row in self.verification_rows):
            raise ValueError(f"verification_rows: every row needs {width} values")
        return self

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model order."""
        return [f.name for f in self.features]

    def to_json(self) -> dict[str, Any]:
        """The JSON document (``contract.json``)."""
        return self.model_dump(mode="json")


def parse_contract(document: Any, source: str) -> ModelContract:
    """A contract from its JSON document; ContractError naming ``source`` if invalid."""
    try:
        return ModelContract.model_validate(document)
    except ValueError as exc:
        raise ContractError(
            f"{source} is not a valid model contract ({exc}); retrain the model with this "
            "version of petalflow"
        ) from None


def numeric_contract(
    dataset: str,
    feature_names: Sequence[str],
    classes: Sequence[str],
    target: str,
    bounds: dict[str, float] | None = None,
    description: str | None = None,
    verification_rows: Sequence[Sequence[float]] = (),
) -> ModelContract:
    """A contract whose features are all floats under the same bounds (Iris's shape)."""
    limits = bounds or {}
    features = [
        FeatureSpec.model_validate(
            {"name": name, "type": "float", "description": description, **limits}
        )
        for name in feature_names
    ]
    rows = [[float(v) for v in row] for row in verification_rows]
    if any(not math.isfinite(v) for row in rows for v in row):
        raise ContractError("verification rows must be finite numbers")
    return ModelContract(
        dataset=dataset,
        features=features,
        target=target,
        classes=[str(c) for c in classes],
        verification_rows=rows,
    )
