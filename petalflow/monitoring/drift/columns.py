"""Each feature's report entry: its column kind from the contract, then the checks of
that kind (``numeric_columns``, ``category_columns``) and of its gaps (``missing_values``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from petalflow.core.contract import FeatureSpec
from petalflow.monitoring.drift.category_columns import (
    BOOL_CATEGORIES,
    category_drift,
    live_counts,
    reference_shares,
)
from petalflow.monitoring.drift.missing_values import missing_drift
from petalflow.monitoring.drift.numeric_columns import feature_drift
from petalflow.monitoring.drift.scores import MIN_SAMPLES, worst


@dataclass(frozen=True)
class Column:
    """How drift reads one feature: ``kind`` numeric, category or bool, whether it may be
    null, and the categories its encoded values index."""

    name: str
    kind: str = "numeric"
    nullable: bool = False
    categories: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: FeatureSpec, entry: Mapping[str, Any]) -> Column:
        """The column of a contract feature; ValueError if its reference entry has
        another shape (a category without ``category_fractions``, or the reverse)."""
        is_category = spec.type == "category"
        if is_category != ("category_fractions" in entry):
            raise ValueError(
                f"feature {spec.name!r} is a {spec.type} in the contract but not in the "
                "reference statistics; the files do not belong together: retrain"
            )
        if is_category:
            listed = spec.categories or sorted(entry["category_fractions"])
            return cls(spec.name, "category", spec.nullable, tuple(listed))
        if spec.type == "bool":
            return cls(spec.name, "bool", spec.nullable, BOOL_CATEGORIES)
        return cls(spec.name, "numeric", spec.nullable)


def columns_of(
    reference: Mapping[str, Any],
    feature_names: Sequence[str],
    specs: Sequence[FeatureSpec] | None,
) -> list[Column]:
    """The columns to check. Without ``specs`` (a model without a contract) every feature
    is numeric, nullable where the reference saw gaps."""
    entries = reference["features"]
    missing = [name for name in feature_names if name not in entries]
    if missing:
        raise ValueError(f"features {missing} are not in the reference statistics")
    if specs is None:
        categorical = [name for name in feature_names if "category_fractions" in entries[name]]
        if categorical:
            raise ValueError(
                f"features {categorical} are categories in the reference statistics; their "
                "drift needs the model contract (specs)"
            )
        return [Column(name, nullable="missing_rate" in entries[name]) for name in feature_names]
    if [spec.name for spec in specs] != list(feature_names):
        raise ValueError(f"the contract's features are not {list(feature_names)}")
    return [Column.of(spec, entries[spec.name]) for spec in specs]


def column_drift(
    column: Column,
    entry: Mapping[str, Any],
    values: np.ndarray,
    alpha: float,
    min_samples: int = MIN_SAMPLES,
    reference_size: int = 0,
) -> dict[str, Any]:
    """The report entry of one feature's live ``values`` (encoded, NaN for a gap) against
    its ``entry`` in the reference statistics of a ``reference_size``-row training split."""
    reference_rate = float(entry.get("missing_rate", 0.0))
    gaps = np.isnan(values)
    n_gaps = int(np.count_nonzero(gaps))
    present = values[~gaps] if n_gaps else values
    found: dict[str, Any] = {"kind": column.kind}
    statuses: list[str] = []
    if len(present) < min_samples:
        found.update(
            psi=None,
            detail=f"{len(present)} present values, {min_samples} needed for a verdict on "
            "their distribution",
        )
    elif column.kind == "numeric":
        found.update(feature_drift(entry, present, alpha))
        statuses.append(found.pop("status"))
    else:
        expected = reference_shares(entry, column.categories, is_bool=column.kind == "bool")
        counts = live_counts(present, len(column.categories))
        reference_present = reference_size - round(reference_rate * reference_size)
        found.update(category_drift(expected, counts, column.categories, alpha, reference_present))
        statuses.append(found.pop("status"))
    if column.nullable:
        missing = missing_drift(n_gaps, len(values), reference_rate, reference_size, alpha)
        found.update(missing)
        statuses.append(missing["missing_status"])
    found["status"] = worst(statuses)
    return found
