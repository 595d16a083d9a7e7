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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from petalflow.core.errors import ContractError, DataContractError

FeatureType = Literal["float", "int", "category", "bool"]
NUMERIC_TYPES = frozenset({"float", "int", "bool"})  # what the model sees as numbers
CONTRACT_VERSION = 1
# How a CSV cell spells a bool feature's value (any case, blanks around it ignored): the
# training table is read so, and a CSV body sent to the server too.
TRUE_TOKENS = frozenset({"true", "yes", "1", "1.0"})
FALSE_TOKENS = frozenset({"false", "no", "0", "0.0"})


class FeatureSpec(BaseModel):
    """One input column: its type, bounds (as pydantic's ge/gt/le/lt) and description."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    name: str = Field(min_length=1)
    type: FeatureType = "float"
    # Finite: an infinite bound is no bound, a NaN one would switch the check off.
    ge: float | None = Field(default=None, allow_inf_nan=False)
    gt: float | None = Field(default=None, allow_inf_nan=False)
    le: float | None = Field(default=None, allow_inf_nan=False)
    lt: float | None = Field(default=None, allow_inf_nan=False)
    categories: list[str] | None = None
    nullable: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _fits_its_type(self) -> FeatureSpec:
        if self.bounds() and self.type not in ("float", "int"):
            keys = ", ".join(self.bounds())
            raise ValueError(f"{keys}: bounds apply to float and int features, not {self.type}")
        for low, high in (("ge", "le"), ("ge", "lt"), ("gt", "le"), ("gt", "lt")):
            lower, upper = getattr(self, low), getattr(self, high)
            if lower is None or upper is None:
                continue
            if lower > upper or (lower == upper and (low, high) != ("ge", "le")):
                raise ValueError(
                    f"{low}, {high}: no value fits {low} {lower:g} and {high} {upper:g}; "
                    "give the lower bound as ge/gt and the upper as le/lt"
                )
        if self.categories is not None:
            if self.type != "category":
                raise ValueError(f"categories: only a category feature has them, not {self.type}")
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise ValueError("categories: list each category once (at least one)")
        return self

    @property
    def numeric(self) -> bool:
        """Whether the model sees this feature as a number (float, int, bool as 0/1)."""
        return self.type in NUMERIC_TYPES

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

    ``verification_rows`` are training rows encoded as the server holds them (see
    ``petalflow.core.codec``: categories as their index, null for a gap), on which a fast
    path must agree with the pipeline before it is used.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    contract_version: int = CONTRACT_VERSION
    dataset: str
    features: list[FeatureSpec] = Field(min_length=1)
    target: str
    classes: list[str] = Field(min_length=2)
    positive_class: str | None = None
    verification_rows: list[list[float | None]] = Field(default_factory=list)

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
    rows: list[list[float | None]] = [[float(v) for v in row] for row in verification_rows]
    if any(v is None or not math.isfinite(v) for row in rows for v in row):
        raise ContractError("verification rows must be finite numbers")
    return ModelContract(
        dataset=dataset,
        features=features,
        target=target,
        classes=[str(c) for c in classes],
        verification_rows=list(rows),
    )


class DataContract(BaseModel):
    """A user's table (SPEC 7): the CSV, its target, the columns to drop, the features.

    ``source`` is relative to the contract file; class names are the target's values as
    strings, sorted; ``positive_class`` (binary only) defaults to the second class.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    positive_class: str | None = None
    drop: list[str] = Field(default_factory=list)
    features: list[FeatureSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_columns(self) -> DataContract:
        names = [f.name for f in self.features]
        for key, column in [("features", n) for n in names] + [("drop", n) for n in self.drop]:
            if column == self.target:
                raise ValueError(f"{key}: the target {column!r} cannot also be a {key} column")
        every = names + self.drop
        duplicates = sorted({n for n in every if every.count(n) > 1})
        if duplicates:
            raise ValueError(f"features/drop: duplicate column names {duplicates}")
        return self

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model order."""
        return [f.name for f in self.features]


def _error_key(error: Any, document: Any) -> str:
    """``features[2] ('plan').ge`` for pydantic's ``('features', 2, 'ge')``."""
    parts: list[str] = []
    node = document
    for part in error["loc"]:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            parts[-1] += f"[{part}]" + (f" ({name!r})" if name is not None else "")
        else:
            node = node.get(part) if isinstance(node, dict) else None
            parts.append(str(part))
    return ".".join(parts)


def parse_data_contract(document: Any, source: str) -> DataContract:
    """A data contract from its YAML/JSON document; DataContractError naming the key."""
    if not isinstance(document, dict):
        raise DataContractError(f"{source}: must be a mapping with name, source, target, features")
    try:
        return DataContract.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = _error_key(error, document)
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{key}: {message}" if key else message)
        raise DataContractError(
            f"{source}: {'; '.join(problems)}; fix the contract (docs/training.md lists the keys)"
        ) from None
