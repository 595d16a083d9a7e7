import argparse
from collections.abc import Callable
from pathlib import Path

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


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("7", 7), (" 3 ", 3), ("+2", 2)])
def test_int_at_least_accepts_integers_at_or_above_minimum(value: str, expected: int) -> None:
    result = cfg.int_at_least(1)(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("5", 5)])
def test_int_at_least_accepts_bounds_of_a_range(value: str, expected: int) -> None:
    assert cfg.int_at_least(1, 5)(value) == expected


@pytest.mark.parametrize("value", ["0", "6", "x"])
def test_int_at_least_rejects_outside_a_range(value: str) -> None:
    with pytest.raises(
        argparse.ArgumentTypeError, match=rf"^must be an integer >= 1 and <= 5, got '{value}'$"
    ):
        cfg.int_at_least(1, 5)(value)


def test_int_at_least_message_names_rule_and_value() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be an integer >= 2, got '1'$"):
        cfg.int_at_least(2)("1")
    assert cfg.int_at_least(-3)("-3") == -3
    assert cfg.int_at_least(0, 0)("0") == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", None),
        ("None", None),
        (" NULL ", None),
        ("", None),
        ("  ", None),
        ("3", 3),
        ("2", 2),
    ],
)
def test_optional_int_accepts_none_strings_and_ints(value: str, expected: int | None) -> None:
    assert cfg.optional_int_at_least(2)(value) == expected


@pytest.mark.parametrize("value", ["1", "-4", "two", "2.5"])
def test_optional_int_rejects_with_its_own_rule(value: str) -> None:
    with pytest.raises(
        argparse.ArgumentTypeError, match=rf"^must be an integer >= 2 or 'none', got '{value}'$"
    ):
        cfg.optional_int_at_least(2)(value)


@pytest.mark.parametrize(("value", "expected"), [("1", 1.0), ("0.001", 0.001), ("1e3", 1000.0)])
def test_positive_float_accepts(value: str, expected: float) -> None:
    assert cfg.positive_float(value) == expected


@pytest.mark.parametrize("value", ["-inf", "-0", "1e-400"])
def test_positive_float_rejects_more(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=rf"^must be a number > 0, got '{value}'$"):
        cfg.positive_float(value)


@pytest.mark.parametrize(("value", "expected"), [("0.5", 0.5), ("0.001", 0.001), ("0.999", 0.999)])
def test_open_unit_float_accepts_inside(value: str, expected: float) -> None:
    assert cfg.open_unit_float(value) == expected


@pytest.mark.parametrize("value", ["inf", "-inf", "NaN"])
def test_open_unit_float_rejects_non_finite(value: str) -> None:
    with pytest.raises(
        argparse.ArgumentTypeError,
        match=rf"^must be a number strictly between 0 and 1, got '{value}'$",
    ):
        cfg.open_unit_float(value)


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_non_empty_rejects_blank(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be a non-empty string, got "):
        cfg.non_empty(value)


def test_non_empty_keeps_value_unchanged() -> None:
    assert cfg.non_empty(" iris ") == " iris "


@pytest.mark.parametrize(
    ("value", "expected"), [("none", None), ("NULL", None), ("", None), ("iris", "iris")]
)
def test_optional_name_maps_none_strings(value: str, expected: str | None) -> None:
    assert cfg.optional_name(value) == expected


@pytest.mark.parametrize("value", ["champion", "a-b_C9", "x" * 255, "v1x", "latest2", "V"])
def test_optional_alias_accepts_valid_names(value: str) -> None:
    assert cfg.optional_alias(value) == value


@pytest.mark.parametrize("value", ["none", " None ", "null", ""])
def test_optional_alias_maps_none_strings(value: str) -> None:
    assert cfg.optional_alias(value) is None


def test_optional_alias_reserved_message() -> None:
    with pytest.raises(
        argparse.ArgumentTypeError,
        match=r"^'V7' is reserved by MLflow \('latest' and 'v<digits>'\); "
        r"choose another alias, such as 'champion', 'challenger' or 'staging'$",
    ):
        cfg.optional_alias("V7")


def test_optional_alias_bad_format_message() -> None:
    with pytest.raises(
        argparse.ArgumentTypeError,
        match=r"^must be ASCII letters, digits, '_' or '-' \(1-255 characters\), got 'a\.b'$",
    ):
        cfg.optional_alias("a.b")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be ASCII letters.*got 'ä'$"):
        cfg.optional_alias("ä")  # a letter, but not one MLflow takes in an alias


def test_train_config_params_is_every_field() -> None:
    config = cfg.TrainConfig(
        seed=1,
        test_size=0.25,
        model="rf",
        C=2.0,
        max_iter=10,
        n_estimators=5,
        max_depth=None,
        artifacts_dir="out",
        experiment_name="e",
        register_model="m",
        alias=None,
        dataset="wine",
    )
    assert config.params() == {
        "seed": 1,
        "test_size": 0.25,
        "model": "rf",
        "C": 2.0,
        "max_iter": 10,
        "n_estimators": 5,
        "max_depth": None,
        "artifacts_dir": "out",
        "experiment_name": "e",
        "register_model": "m",
        "alias": None,
        "dataset": "wine",
    }


def test_module_constants() -> None:
    assert cfg.MODEL_CHOICES == ("logreg", "rf")
    assert frozenset({"none", "null", ""}) == cfg.NONE_STRINGS
    assert (cfg.PROJECT_ROOT / "petalflow" / "training" / "config.py").is_file()
    assert Path(cfg.__file__).resolve().parent.parent.parent == cfg.PROJECT_ROOT


def test_check_artifacts_dir_accepts_new_folder(tmp_path: Path) -> None:
    assert cfg.check_artifacts_dir(str(tmp_path / "artifacts"), [tmp_path / "project"]) is None


@pytest.mark.parametrize("name", ["project", "."])
def test_check_artifacts_dir_rejects_a_protected_path_or_its_parent(
    tmp_path: Path, name: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    value = str(project if name == "project" else tmp_path)
    assert cfg.check_artifacts_dir(value, [tmp_path.parent / "elsewhere", project]) == (
        f"{value!r} is or contains {project}; name a dedicated folder such as 'artifacts'"
    )


def test_check_artifacts_dir_accepts_a_folder_inside_a_protected_path(tmp_path: Path) -> None:
    assert cfg.check_artifacts_dir(str(tmp_path / "artifacts"), [tmp_path]) is None


def test_check_artifacts_dir_rejects_a_file(tmp_path: Path) -> None:
    target = tmp_path / "model.joblib"
    target.write_text("x")
    assert cfg.check_artifacts_dir(str(target), []) == f"{str(target)!r} is a file; name a folder"


def test_check_artifacts_dir_accepts_an_artifacts_only_folder(tmp_path: Path) -> None:
    # confusion_matrix.png: what earlier versions also wrote there.
    for name in ("model.joblib", "metrics.json", "contract.json", "confusion_matrix.png"):
        (tmp_path / name).write_text("x")
    assert cfg.check_artifacts_dir(str(tmp_path), []) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("iris-classifier", "iris-classifier"), ("a b.c_d", "a b.c_d"), ("none", None), ("", None)],
)
def test_optional_model_name_takes_names_mlflow_takes(value: str, parsed: str | None) -> None:
    assert cfg.optional_model_name(value) == parsed


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("a/b", "a registered-model name without '/' or ':'"),
        ("a:b", "a registered-model name without '/' or ':'"),
        (".", "a registered-model name, not '.' nor one starting with '..'"),
        ("..", "a registered-model name, not '.' nor one starting with '..'"),
        ("..x", "a registered-model name, not '.' nor one starting with '..'"),
        ("./x", "a registered-model name without '/' or ':'"),
    ],
)
def test_optional_model_name_refuses_what_mlflow_refuses(value: str, rule: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        cfg.optional_model_name(value)
    assert str(raised.value) == f"must be {rule}, got {value!r}"


def test_check_artifacts_dir_refuses_other_json_files(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{}")  # a user's file: JSON is not enough
    (tmp_path / "metrics.json").write_text("{}")
    assert cfg.check_artifacts_dir(str(tmp_path), []) == (
        f"{str(tmp_path)!r} holds other files (settings.json); training replaces "
        "the whole folder, so name an empty or artifacts-only folder"
    )


@pytest.mark.parametrize(
    ("uri", "folder", "kept"),
    [
        ("sqlite:///{t}/out/mlflow.db", "out", "out/mlflow.db"),  # created by the run itself
        ("sqlite:///{t}/out/sub/mlflow.db", "out", "out/sub/mlflow.db"),
        ("sqlite:///{t}/mlflow.db", "mlruns", "mlruns"),  # the runs' folder beside it
        ("file://{t}/out/mlruns", "out", "out/mlruns"),
        ("sqlite:///{t}/out/mlflow.db?timeout=20", "out", "out/mlflow.db"),
        ("file://{t}/my%20runs/mlruns", "my runs", "my runs/mlruns"),
        ("{t}/out/mlruns", "out", "out/mlruns"),
    ],
)
def test_check_artifacts_dir_refuses_a_folder_holding_a_local_store(
    tmp_path: Path, uri: str, folder: str, kept: str
) -> None:
    (tmp_path / folder).mkdir()  # empty: the store does not exist yet
    value = str(tmp_path / folder)
    problem = cfg.check_artifacts_dir(value, [], (None, uri.format(t=tmp_path)))
    assert problem == (
        f"{value!r} is or contains {(tmp_path / kept).resolve()}; name a dedicated folder "
        "such as 'artifacts'"
    )


def test_check_artifacts_dir_accepts_a_folder_beside_the_store_or_a_server(tmp_path: Path) -> None:
    stores = (f"sqlite:///{tmp_path}/mlflow.db", "http://127.0.0.1:5000", "sqlite:///:memory:")
    assert cfg.check_artifacts_dir(str(tmp_path / "artifacts"), [], stores) is None


def test_check_artifacts_dir_names_the_first_three_other_files(tmp_path: Path) -> None:
    for name in ("model.joblib", "e.txt", "b.csv", "notes.md", "a.py", "data.json.bak"):
        (tmp_path / name).write_text("x")
    assert cfg.check_artifacts_dir(str(tmp_path), []) == (
        f"{str(tmp_path)!r} holds other files (a.py, b.csv, data.json.bak); training replaces "
        "the whole folder, so name an empty or artifacts-only folder"
    )


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (cfg.positive_float, "x", "must be a number > 0, got 'x'"),
        (cfg.positive_float, "-2", "must be a number > 0, got '-2'"),
        (cfg.open_unit_float, "x", "must be a number strictly between 0 and 1, got 'x'"),
        (cfg.open_unit_float, "1.5", "must be a number strictly between 0 and 1, got '1.5'"),
        (cfg.non_empty, "  ", "must be a non-empty string, got '  '"),
    ],
)
def test_type_rules_name_the_rejected_value(
    parse: Callable[[str], object], value: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as excinfo:
        parse(value)
    assert str(excinfo.value) == message
