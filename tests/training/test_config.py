import argparse

import pytest

from petalflow.training import config as cfg


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", ""])
def test_int_at_least_rejects_below_minimum_or_non_int(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be an integer >= 1"):
        cfg.int_at_least(1)(value)


@pytest.mark.parametrize(("value", "expected"), [("none", None), ("None", None), ("3", 3)])
def test_optional_int_accepts_none_and_ints(value: str, expected: int | None) -> None:
    assert cfg.optional_int_at_least(1)(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_positive_float_rejects(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be a number > 0"):
        cfg.positive_float(value)


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "nan", "x"])
def test_open_unit_float_rejects_outside_open_interval(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"strictly between 0 and 1"):
        cfg.open_unit_float(value)


@pytest.mark.parametrize("value", ["latest", "LATEST", "v1", "v42"])
def test_optional_alias_rejects_reserved_names(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"reserved by MLflow"):
        cfg.optional_alias(value)


@pytest.mark.parametrize("value", ["champ ion", "a/b", "x" * 256])
def test_optional_alias_rejects_bad_format(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"letters, digits"):
        cfg.optional_alias(value)


def test_optional_alias_accepts_champion_and_none() -> None:
    assert cfg.optional_alias("champion") == "champion"
    assert cfg.optional_alias("none") is None
