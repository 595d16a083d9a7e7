"""The structure's own rules: small modules, short functions, no import-order tricks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODULES = sorted((ROOT / "petalflow").rglob("*.py"))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_under_300_lines_with_functions_under_60(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= 300
    long = [
        f"{f.name} ({f.end_lineno - f.lineno + 1} lines)"
        for f in _functions(ast.parse(source))
        if f.end_lineno is not None and f.end_lineno - f.lineno + 1 > 60
    ]
    assert long == []


def test_packages_are_the_architecture() -> None:
    packages = sorted(
        p.name for p in (ROOT / "petalflow").iterdir() if (p / "__init__.py").is_file()
    )
    assert packages == ["core", "monitoring", "observability", "serving", "training"]


def test_no_fast_lane_setting_remains() -> None:
    from petalflow.serving.settings import Settings

    assert "fast_lane" not in Settings.model_fields
