"""Request models built from the served model's contract, and the rows they give.

One strict pydantic model per served model, one field per feature:

* ``float``: a JSON number (integers accepted), finite, inside the contract's bounds;
* ``int``: an integral JSON number (``3`` or ``3.0``; ``3.5`` is refused), inside the bounds;
* ``bool``: ``true`` or ``false``;
* ``category``: one of the contract's categories (an enum: the 422 lists them);
* a nullable feature also takes ``null``, and may be left out (then it is null): the
  pipeline imputes it.

Unknown fields are refused. The models' JSON schema documents the request bodies, with
an example row. Validated rows become encoded rows (``petalflow.core.codec``): one
float64 array, categories as their index, NaN for a null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from petalflow.core.codec import RowCodec
from petalflow.core.contract import FeatureSpec, ModelContract
from petalflow.core.errors import ClientError, InvalidRequestError
from petalflow.serving.batch_check import Columns, fast_rows, fast_split
from petalflow.serving.duplicate_keys import check_unique_keys
from petalflow.serving.schemas import error_details, summarize

M = TypeVar("M", bound=BaseModel)
_STRICT: dict[str, Any] = {"strict": True, "extra": "forbid", "allow_inf_nan": False}
Encoder = Callable[[Any], float]


def _base_type(feature: FeatureSpec) -> tuple[Any, dict[str, Any]]:
    """The field's Python type and its constraints, per feature type."""
    if feature.type == "category":
        return Literal[tuple(feature.categories or ())], {}
    if feature.type == "bool":
        return bool, {}
    constraints: dict[str, Any] = dict(feature.bounds())
    if feature.type == "int":  # integral numbers; documented as JSON integers
        constraints.update(multiple_of=1, json_schema_extra={"type": "integer"})
    return float, constraints


def _field(feature: FeatureSpec, example: Any) -> tuple[Any, Any]:
    """(annotation, default) of one feature's field."""
    description = feature.description or feature.name
    if feature.rule():
        description = f"{description} ({feature.rule()})"
    if feature.nullable:
        description = f"{description}; null or left out: imputed"
    base, constraints = _base_type(feature)
    examples = None if example is None else [example]
    info = Field(description=description, examples=examples, **constraints)
    annotated = Annotated[base, info]  # type: ignore[valid-type]
    if feature.nullable:
        return annotated | None, None
    return annotated, ...


def _encoder(feature: FeatureSpec) -> Encoder:
    """Validated value -> its encoded float (NaN for null)."""
    if feature.type == "category":
        index = {c: float(i) for i, c in enumerate(feature.categories or ())}
        return lambda v: math.nan if v is None else index[v]
    if feature.type == "bool":
        return lambda v: math.nan if v is None else (1.0 if v else 0.0)
    return lambda v: math.nan if v is None else float(v)


@dataclass(frozen=True)
class RequestModels:
    """The strict row and batch models of one contract, and how rows become arrays."""

    features: tuple[str, ...]
    specs: tuple[FeatureSpec, ...]  # the contract's features, in the same order
    row: type[BaseModel]
    batch: type[BaseModel]
    columns: Columns  # the vectorised check of records
    encoders: tuple[Encoder, ...]
    example: dict[str, Any] | None  # a row to show in the docs

    @property
    def plain(self) -> bool:
        """Whether every feature is a number that is never null (values are the rows)."""
        return self.columns.plain

    def parse_row(self, body: bytes) -> np.ndarray:
        """A (1, n_features) array from a /predict body; ClientError (400/422) if invalid."""
        return self.rows_of([parse(self.row, body)])

    def rows_of(self, items: Sequence[BaseModel]) -> np.ndarray:
        """Validated row models as encoded rows (n, n_features) in feature order."""
        if self.plain:
            return np.array(
                [[item.__dict__[f] for f in self.features] for item in items], dtype=np.float64
            )
        pairs = tuple(zip(self.features, self.encoders, strict=True))
        return np.array(
            [[encode(item.__dict__[f]) for f, encode in pairs] for item in items],
            dtype=np.float64,
        )

    def fast_rows(self, records: Any) -> np.ndarray | None:
        """Records as encoded rows when every one certainly obeys ``row`` (vectorised).

        None means "not certainly valid": the caller then validates with pydantic, which
        names the field and rule that failed.
        """
        return fast_rows(records, self.columns)

    def fast_split(self, names: Any, data: Any, body: bytes | None = None) -> np.ndarray | None:
        """Columnar rows (``data`` under ``names``) as encoded rows when every value
        certainly obeys ``row``; None: the caller validates (see ``fast_rows``).
        ``body``: the JSON text of a /predict/batch columnar body (see ``fast_split``)."""
        return fast_split(names, data, self.columns, body)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


_LISTED = 12  # categories named in the description; the schema's enum has them all


def _quoted(values: Sequence[str]) -> str:
    shown = ", ".join(json.dumps(value, ensure_ascii=False) for value in values[:_LISTED])
    return shown + (f" ... ({len(values)} in all)" if len(values) > _LISTED else "")


def row_rules(specs: Sequence[FeatureSpec]) -> str:
    """What a row must hold, in words, from the contract (the /predict description):
    numbers inside the bounds, categories from their list, nullable features optional."""
    numbers = [f for f in specs if f.type in ("float", "int")]
    whole = [f.name for f in numbers if f.type == "int"]
    flags = [f.name for f in specs if f.type == "bool"]
    nullable = [f.name for f in specs if f.nullable]
    parts = [
        f"`{f.name}` is one of {_quoted(f.categories or ())}" for f in specs if f.type == "category"
    ]
    if flags:
        parts.append(f"{_names(flags)} {'is' if len(flags) == 1 else 'are'} true or false")
    if numbers:
        alone = len(numbers) == len(specs)
        subject = "every feature is a JSON number" if alone else "the others are JSON numbers"
        bounded = " inside the contract's bounds" if any(f.bounds() for f in numbers) else ""
        parts.append(
            f"{subject}{bounded}" + (f" (whole numbers: {_names(whole)})" if whole else "")
        )
    rules = "; ".join(parts)
    if not nullable:
        required = "Every feature is required"
    elif len(nullable) == len(specs):
        required = "Every feature may be null or left out (then imputed)"
    else:
        required = (
            f"Every feature is required except {_names(nullable)}, which may be null or "
            "left out (then imputed)"
        )
    return f"{rules[0].upper()}{rules[1:]}. {required}; unknown fields are refused."


def build_request_models(contract: ModelContract) -> RequestModels:
    """The request models of ``contract``; its first verification row is the example."""
    codec = RowCodec(contract)
    rows = contract.verification_rows
    example = codec.decode_row(rows[0]) if rows else None
    fields: dict[str, Any] = {
        f.name: _field(f, None if example is None else example[f.name]) for f in contract.features
    }
    extra = {"examples": [example]} if example is not None else None
    row = create_model(
        "PredictRequest",
        __config__=ConfigDict(**_STRICT, json_schema_extra=extra),  # type: ignore[typeddict-item]
        __doc__=f"One row of {contract.dataset}. {row_rules(contract.features)}",
        **fields,
    )
    batch = create_model(
        "PredictBatchRequest",
        __config__=ConfigDict(**_STRICT),  # type: ignore[typeddict-item]
        __doc__="Several rows; the row limit is a setting (MAX_BATCH_ROWS).",
        instances=(list[row], Field(min_length=1)),  # type: ignore[valid-type]
    )
    return RequestModels(
        features=tuple(contract.feature_names),
        specs=tuple(contract.features),
        row=row,
        batch=batch,
        columns=Columns.of(contract),
        encoders=tuple(_encoder(f) for f in contract.features),
        example=example,
    )


def validation_error(exc: ValidationError) -> ClientError:
    """Turn pydantic errors into one 4xx naming each field and rule."""
    details = error_details(exc)
    first = details[0] if details else {"rule": "", "field": None}
    if first["rule"] == "json_invalid":
        reason = str(exc.errors()[0]["msg"]).removeprefix("Invalid JSON: ")  # said already
        message = f"body is not valid JSON: {reason}"
        return ClientError(message, status=400, code="malformed_json")
    if first["rule"] == "model_type" and first["field"] is None:
        return InvalidRequestError("body must be a JSON object", details)
    return InvalidRequestError(f"invalid request: {summarize(details)}", details)


def parse(model: type[M], body: bytes) -> M:
    """Strict JSON validation of ``body`` (its encoding read by ``as_utf8``); raises
    ClientError (400/422) on bad input, DuplicateKeyError if an object repeats a key."""
    try:
        item = model.model_validate_json(body)
    except ValidationError as exc:
        if (decoded := as_utf8(body)) is body:
            raise validation_error(exc) from None
        body = decoded  # once: what it holds is the client's
        try:
            item = model.model_validate_json(body)
        except ValidationError as again:
            raise validation_error(again) from None
    # Each field set came from a key of its own: the body has at least that many keys
    # (a /predict row: exactly its features, as unknown fields are refused).
    check_unique_keys(body, len(item.__pydantic_fields_set__))
    return item


def as_utf8(body: bytes) -> bytes:
    """``body`` in UTF-8 without a byte order mark, read as Python's json module reads it
    (and so `mlflow models serve`): behind a BOM (which RFC 8259 lets a parser ignore), or
    in UTF-16 or UTF-32. Bytes that are not text in the encoding found come back as they
    were, for the parser to refuse."""
    if body[:1] not in (b"\x00", b"\xef", b"\xfe", b"\xff") and body[1:2] != b"\x00":
        return body
    encoding = json.detect_encoding(body)
    if encoding == "utf-8":
        return body
    try:
        return body.decode(encoding).encode()
    except UnicodeDecodeError:
        return body
