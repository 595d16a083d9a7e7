"""Typed configuration: the training config and the argument rules behind the CLI.

The defaults themselves live in ``train.py``'s argparse parser (one source);
this module only holds the rules, so that the CLI and tests share them.
"""

from __future__ import annotations

import argparse
import posixpath
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from petalflow.core.artifacts import JSON_FILES, MODEL_FILE
from petalflow.core.store import (
    PROJECT_ROOT,  # noqa: F401  (the project root)
    local_paths,
)

MODEL_CHOICES = ("logreg", "rf")
# MLflow reserves these alias names for its own version references.
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
_ALIAS_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
NONE_STRINGS = frozenset({"none", "null", ""})


@dataclass(frozen=True)
class TrainConfig:
    """Every resolved training option; ``params()`` is what params.json holds."""

    seed: int
    test_size: float
    model: str
    C: float
    max_iter: int
    n_estimators: int
    max_depth: int | None
    artifacts_dir: str
    experiment_name: str
    register_model: str | None
    alias: str | None
    dataset: str

    def params(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (unset optional values are ``None``)."""
        return asdict(self)


def _fail(rule: str, value: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"must be {rule}, got {value!r}")


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """argparse type: an int >= ``minimum`` (and <= ``maximum`` when given)."""
    rule = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise _fail(rule, value) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise _fail(rule, value)
        return number

    return parse


def optional_int_at_least(minimum: int) -> Callable[[str], int | None]:
    """argparse type: an int >= ``minimum`` or ``none``."""
    parse_int = int_at_least(minimum)

    def parse(value: str) -> int | None:
        if value.strip().lower() in NONE_STRINGS:
            return None
        try:
            return int(parse_int(value))
        except argparse.ArgumentTypeError:
            raise _fail(f"an integer >= {minimum} or 'none'", value) from None

    return parse


def _finite_float(value: str, rule: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _fail(rule, value) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _fail(rule, value)
    return number


def positive_float(value: str) -> float:
    """argparse type: a finite float > 0."""
    number = _finite_float(value, "a number > 0")
    if number <= 0:
        raise _fail("a number > 0", value)
    return number


def open_unit_float(value: str) -> float:
    """argparse type: a float strictly between 0 and 1."""
    rule = "a number strictly between 0 and 1"
    number = _finite_float(value, rule)
    if not 0 < number < 1:
        raise _fail(rule, value)
    return number


def non_empty(value: str) -> str:
    """argparse type: a non-blank string."""
    if not value.strip():
        raise _fail("a non-empty string", value)
    return value


def check_artifacts_dir(
    value: str, protected: list[Path], stores: tuple[str | None, ...] = ()
) -> str | None:
    """Why ``value`` must not be replaced by the training output, or None if it is safe.

    The folder is swapped out whole, so it must not hold (or be) anything else: the
    working directory, the project (``protected``), the local stores at the URIs
    ``stores`` (the tracking store, an Optuna storage; created later if missing), or a
    folder of other files.
    """
    target = Path(value).resolve()
    for path in [*protected, *(p for uri in stores if uri for p in local_paths(uri))]:
        path = path.resolve()
        if target == path or target in path.parents:
            return f"{value!r} is or contains {path}; name a dedicated folder such as 'artifacts'"
    if target.exists() and not target.is_dir():
        return f"{value!r} is a file; name a folder"
    if target.is_dir():
        known = {MODEL_FILE, *JSON_FILES, "confusion_matrix.png"}  # the PNG: earlier versions
        others = sorted(p.name for p in target.iterdir() if p.name not in known)
        if others:
            return (
                f"{value!r} holds other files ({', '.join(others[:3])}); training replaces the "
                "whole folder, so name an empty or artifacts-only folder"
            )
    return None


def optional_name(value: str) -> str | None:
    """argparse type: a name, or ``none`` for unset."""
    return None if value.strip().lower() in NONE_STRINGS else value


def optional_model_name(value: str) -> str | None:
    """argparse type: a registered-model name MLflow accepts (not blank, no ``/`` or
    ``:``, not a path that normalizes to another name), or ``none``."""
    name = optional_name(value)
    if name is None:
        return None
    if "/" in name or ":" in name:  # (blank is optional_name's None)
        raise _fail("a registered-model name without '/' or ':'", value)
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        raise _fail("a registered-model name, not '.' nor one starting with '..'", value)
    return name


def optional_alias(value: str) -> str | None:
    """argparse type: a registry alias that MLflow accepts, or ``none``."""
    if value.strip().lower() in NONE_STRINGS:
        return None
    if _RESERVED_ALIAS.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is reserved by MLflow ('latest' and 'v<digits>'); "
            "choose another alias, such as 'champion', 'challenger' or 'staging'"
        )
    if not _ALIAS_FORMAT.match(value):
        raise _fail("ASCII letters, digits, '_' or '-' (1-255 characters)", value)
    return value


# The model each model-specific flag (argparse dest) applies to.
MODEL_SPECIFIC = {"C": "logreg", "max_iter": "logreg", "n_estimators": "rf", "max_depth": "rf"}


class _NotGiven:
    """Namespace value of a flag the command line did not give (argparse leaves preset
    attributes alone instead of filling in the default)."""


def ignored_flag_warnings(
    parser: argparse.ArgumentParser, argv: list[str], model: str, *, only_changed: bool = False
) -> list[str]:
    """One line per flag given on ``argv`` that ``model`` does not use, in argv's parser
    order. Prefixes (``--n-est``) and ``--flag=value`` count as given: ``argv`` is parsed
    again, with every flag preset to a marker. ``only_changed`` also drops flags whose
    value is the default (``mlflow run`` passes every flag, whatever the user set)."""
    marker = _NotGiven()
    namespace = argparse.Namespace(**{a.dest: marker for a in parser._actions})
    given = vars(parser.parse_args(argv, namespace=namespace))
    lines: list[str] = []
    for action in parser._actions:
        owner = MODEL_SPECIFIC.get(action.dest)
        value = given.get(action.dest, marker)
        if owner is None or owner == model or value is marker:
            continue
        if only_changed and value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        lines.append(
            f"{flag} applies to {owner}; ignored by {model} (still recorded in params.json)"
        )
    return lines
