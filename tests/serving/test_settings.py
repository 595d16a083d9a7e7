"""Every setting is documented once, with its real default (docs/serving.md's table)."""

from __future__ import annotations

import re

import pytest

from petalflow.serving.settings import Settings
from tests.conftest import ROOT

ROW = re.compile(r"^\| (`[A-Z_]+`(?: / `[A-Z_]+`)*) \| ([^|]+) \|")


def _documented() -> dict[str, str]:
    """Each variable of the configuration table and the default written beside it."""
    table = (ROOT / "docs" / "serving.md").read_text().split("## Configuration", 1)[1]
    found: dict[str, str] = {}
    for line in table.split("\n## ", 1)[0].splitlines():
        if match := ROW.match(line):
            names = [name.strip("`") for name in match.group(1).split(" / ")]
            defaults = [d.strip() for d in match.group(2).split(" / ")]
            defaults = defaults if len(defaults) == len(names) else defaults * len(names)
            found.update(zip(names, defaults, strict=True))
    return found


def _as_written(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"`{value}`"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    documented = _documented()
    variable = name.upper()
    assert variable in documented, f"docs/serving.md's configuration table lacks {variable}"
    assert documented[variable] == _as_written(Settings.model_fields[name].default)
